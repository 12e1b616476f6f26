"""Checks behind "connect your own database": a store owner hands us a PostgreSQL URL.

The URL is untrusted input. Before storefleet connects anywhere it must make sure the URL
cannot be used to reach our own network (loopback, private, link-local, cloud metadata
addresses), that remote traffic is encrypted, and that the server is new enough and grants
what the tenant schema needs. Every failure becomes an :class:`ExternalDatabaseError` whose
message says what is wrong and what to do; no message ever contains the password.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Literal, NamedTuple

import anyio
import psycopg
from sqlalchemy.engine import URL

from storefleet import blocking
from storefleet.db.foreign import ForeignPolicy, is_behind_pooler
from storefleet.db.urls import DatabaseURLError, libpq_conninfo, parse_url
from storefleet.errors import InvalidInput

MIN_SERVER_VERSION = 150000
MAX_URL_LENGTH = 2048
DEFAULT_PORT = 5432

# Query parameters a remote URL may carry. Everything else is refused: libpq options such
# as ``host``/``hostaddr`` (bypass the address check), ``service``/``passfile``/``sslkey``
# (read files on *our* machine) have no business in a URL from a store owner.
_ALLOWED_REMOTE_PARAMS = frozenset(
    {"sslmode", "sslrootcert", "channel_binding", "sslnegotiation", "application_name"}
)
# Parameters other clients put in copied connection strings (Prisma, our own timeout) that
# libpq would reject; dropped silently so a pasted Supabase URL just works.
_IGNORED_PARAMS = frozenset(
    {"pgbouncer", "connection_limit", "pool_timeout", "statement_cache_size", "connect_timeout"}
)
_WEAK_SSLMODES = frozenset({"disable", "allow", "prefer"})
_SSLMODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$"
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE_NETWORKS = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("172.16.0.0/12"),
    ipaddress.ip_network("192.168.0.0/16"),
    ipaddress.ip_network("fc00::/7"),
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

Isolation = Literal["dedicated_role", "owner_role"]

# Schema-qualified functions and operators: nothing the owner planted can answer for them.
_REPORT_QUERY = """
SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4,
       pg_catalog.current_setting('server_version'),
       current_user::pg_catalog.text,
       pg_catalog.current_database()::pg_catalog.text,
       pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE'),
       r.rolsuper,
       r.rolcreaterole,
       r.rolbypassrls
  FROM pg_catalog.pg_roles r
 WHERE r.rolname OPERATOR(pg_catalog.=) current_user
"""


class ExternalDatabaseError(InvalidInput):
    """The store owner's database URL cannot be used; the detail says why and what to do."""

    def __init__(self, detail: str, *, field: str | None = "database_url") -> None:
        super().__init__(detail, field=field)


@dataclass(frozen=True)
class ExternalDatabaseReport:
    """What we learned about a store owner's database, shown back to them before saving it."""

    server_version: int
    server_version_text: str
    user: str
    database: str
    behind_pooler: bool
    can_create_schema: bool
    can_create_role: bool
    is_superuser: bool
    bypass_rls: bool
    isolation: Isolation
    isolation_note: str


class ResolvedTarget(NamedTuple):
    """A URL whose host passed the address check, and the addresses to connect to.

    Connecting to exactly these addresses (libpq ``hostaddr``) closes the DNS-rebinding gap
    between our check and libpq's own lookup.
    """

    url: URL
    addresses: tuple[str, ...]


# --- URL shape -------------------------------------------------------------------------


def validate_url_shape(raw: str, *, allow_private: bool) -> URL:
    """Syntax checks plus literal-IP and TLS rules; names are resolved by check_host_allowed.

    ``allow_private`` is the development setting: it permits loopback/private hosts, unix
    sockets (``?host=/path``) and any libpq parameter.
    """
    if not isinstance(raw, str) or not raw.strip():
        raise ExternalDatabaseError(
            "Enter the database URL, for example postgresql://user:password@host:5432/dbname."
        )
    raw = raw.strip()
    if len(raw) > MAX_URL_LENGTH:
        raise ExternalDatabaseError(
            f"The database URL is too long (over {MAX_URL_LENGTH} characters); paste only the "
            "connection string."
        )
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme.split("+", 1)[0] not in {"postgres", "postgresql"}:
        raise ExternalDatabaseError(
            "The database URL must start with postgresql:// (or postgres://)."
        )
    try:
        url = parse_url(raw)
    except DatabaseURLError:
        raise ExternalDatabaseError(
            "The database URL could not be read. Use the form "
            "postgresql://user:password@host:5432/dbname, and percent-encode special "
            "characters in the password (for example @ as %40)."
        ) from None

    url = _normalise_query(url, allow_private=allow_private)
    socket_dir = url.query.get("host")
    if not url.host and not (allow_private and socket_dir):
        raise ExternalDatabaseError(
            "The database URL has no host name; use postgresql://user:password@host:5432/dbname."
        )
    if url.host is not None:
        _check_host_syntax(url)
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ExternalDatabaseError(
            f"The port {url.port} is not valid; PostgreSQL usually listens on 5432 "
            "(6543 for a Supabase transaction pooler)."
        )
    if not url.database:
        raise ExternalDatabaseError(
            "The database URL has no database name; add it after the host, for example "
            "...supabase.com:5432/postgres."
        )
    if not url.username:
        raise ExternalDatabaseError(
            "The database URL has no user name; use postgresql://user:password@host/dbname."
        )
    if not url.password:
        raise ExternalDatabaseError(
            "The database URL has no password; use postgresql://user:password@host/dbname. "
            "storefleet only connects to databases that check a password."
        )

    literal = _literal_ip(url.host)
    if literal is not None:
        problem = _address_problem(literal)
        if problem is not None:
            if not allow_private:
                raise ExternalDatabaseError(_private_message(url.host or "", problem, literal))
            return url  # a local address allowed by setting: any sslmode
        return _require_tls(url)
    if url.host is None or allow_private:
        # A unix socket, or a name that may turn out to be local: with allow_private the TLS
        # rule is applied after resolution (check_host_allowed).
        return url
    return _require_tls(url)


def _normalise_query(url: URL, *, allow_private: bool) -> URL:
    """Drop foreign client parameters; refuse libpq options a remote URL must not set."""
    query = {k: v for k, v in url.query.items() if k not in _IGNORED_PARAMS}
    if allow_private:
        return url.set(query=query)
    if "host" in query or "hostaddr" in query:
        raise ExternalDatabaseError(
            "The database URL sets the host in its query string (?host=...); put the host "
            "name after the @ instead. Unix sockets and host overrides are not allowed."
        )
    unknown = sorted(k for k in query if k not in _ALLOWED_REMOTE_PARAMS)
    if unknown:
        raise ExternalDatabaseError(
            f"The database URL has unsupported parameters: {', '.join(unknown)}. Remove them; "
            f"allowed are {', '.join(sorted(_ALLOWED_REMOTE_PARAMS))}."
        )
    for key, value in query.items():
        if not isinstance(value, str):
            raise ExternalDatabaseError(f"The parameter {key} is given more than once.")
    if "sslrootcert" in query and query["sslrootcert"] != "system":
        raise ExternalDatabaseError(
            "sslrootcert may only be 'system' (the operating system's certificate authorities)."
        )
    return url.set(query=query)


def _check_host_syntax(url: URL) -> None:
    host = url.host or ""
    if _literal_ip(host) is not None or _HOSTNAME.match(host):
        return
    # Never echo the host here: a password with an unencoded @ ends up in it.
    raise ExternalDatabaseError(
        "The host name in the database URL is not valid. If the password contains special "
        "characters such as @, :, / or #, percent-encode them (for example @ as %40). Only "
        "one host is supported."
    )


def _require_tls(url: URL) -> URL:
    """Remote servers are reached over TLS only: default to require, refuse weaker modes."""
    mode = url.query.get("sslmode")
    if mode is None:
        return url.update_query_dict({"sslmode": "require"})
    if not isinstance(mode, str) or mode not in _SSLMODES:
        raise ExternalDatabaseError(
            "sslmode must be one of require, verify-ca or verify-full for a remote database."
        )
    if mode in _WEAK_SSLMODES:
        raise ExternalDatabaseError(
            f"sslmode={mode} allows an unencrypted connection, and remote databases must use "
            "TLS. Remove sslmode from the URL (we use require) or set sslmode=verify-full."
        )
    return url


# --- addresses -------------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _literal_ip(host: str | None) -> IPAddress | None:
    if not host:
        return None
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv6 form (mapped, 6to4, NAT64, IPv4-compatible)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def _address_problem(ip: IPAddress) -> str | None:
    """Why an address must not be reached from our servers, or None for a public address."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        return _address_problem(inner)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (this range holds cloud metadata services)"
    if ip.is_multicast:
        return "a multicast address"
    if ip in _CGNAT:
        return "a shared carrier-grade NAT address"
    if any(ip in net for net in _PRIVATE_NETWORKS):
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved or non-public address"
    return None


def _private_message(host: str, problem: str, ip: IPAddress) -> str:
    subject = "database host" if _literal_ip(host) is not None else f"database host {host}"
    verb = "is" if _literal_ip(host) is not None else "resolves to"
    inner = _embedded_ipv4(ip)
    shown = f"{ip}, which is {inner}" if inner is not None else str(ip)
    return (
        f"The {subject} {verb} {problem} ({shown}); connecting to internal networks is not "
        "allowed. Use the public host name of your database server."
    )


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    seen: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in seen:
            seen.append(address)
    return seen


async def check_host_allowed(url: URL, *, allow_private: bool) -> ResolvedTarget:
    """Resolve the host (in a thread) and refuse it if any address is internal.

    Every address must pass: a name that resolves to one public and one private address
    could otherwise steer libpq to the private one. With ``allow_private`` a name that
    resolves only to local addresses keeps its sslmode; one that reaches out must use TLS.
    """
    host = url.host
    if host is None:
        return ResolvedTarget(url, ())  # unix socket; validate_url_shape allowed it
    literal = _literal_ip(host)
    if literal is not None:
        return ResolvedTarget(url, (str(literal),))
    port = url.port or DEFAULT_PORT
    try:
        addresses = await blocking.name_lookup(_resolve, host, port)
    except (OSError, UnicodeError):
        raise ExternalDatabaseError(
            f"The database host {host} could not be found. Check the spelling of the host "
            "name in the URL."
        ) from None
    if not addresses:
        raise ExternalDatabaseError(f"The database host {host} has no addresses.")
    local = False
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        problem = _address_problem(ip)
        if problem is not None:
            if not allow_private:
                raise ExternalDatabaseError(_private_message(host, problem, ip))
            local = True
    if not local and allow_private:
        url = _require_tls(url)
    return ResolvedTarget(url, tuple(addresses[:8]))


# --- connecting ------------------------------------------------------------------------


def _target(url: URL) -> str:
    if url.host:
        return f"{url.host}:{url.port or DEFAULT_PORT}"
    socket_dir = url.query.get("host")
    return f"the server at {socket_dir}" if isinstance(socket_dir, str) else "the server"


def scrub_password(text: str, url: URL) -> str:
    """Belt and braces: whatever a message says, it must not contain the password."""
    password = url.password
    if password:
        for form in {str(password), str(url.render_as_string(hide_password=False))}:
            if form:
                text = text.replace(form, "***")
    return text


UNREACHABLE_NEEDLES = (
    "timeout",
    "timed out",
    "could not connect",
    "connection refused",
    "no route to host",
    "failed to resolve host",
    "could not translate host name",
    "server closed the connection",
    "connection reset",
)


def unreachable_message(url: URL) -> str:
    """One answer for a closed port, a filtered one and a stalled server (no scan oracle)."""
    return (
        f"Could not connect to {_target(url)}. Check the host and port, that the server is "
        "running and accepts connections from the internet."
    )


def explain_connect_error(exc: Exception, url: URL) -> str:
    """Turn a psycopg connection failure into a sentence a store owner can act on."""
    message = str(exc)
    low = message.lower()
    target = _target(url)
    user = url.username or ""
    if "tenant or user not found" in low:
        text = (
            "The pooler does not know this project: check the pooler host for your region, "
            "and use the username in the form postgres.<project-ref> (the part after the dot "
            "is your Supabase project reference)."
        )
    elif "password authentication failed" in low:
        text = (
            f'The password for user "{user}" was not accepted. Check the password (reset it '
            "in your provider's dashboard if needed) and percent-encode special characters "
            "such as @ or : in the URL."
        )
    elif "no password supplied" in low:
        text = f'The server wants a password for user "{user}"; add it to the URL.'
    elif "does not exist" in low and 'role "' in low:
        text = f'The user "{user}" does not exist on this server; check the user name.'
    elif "does not exist" in low and "database" in low:
        text = (
            f'The database "{url.database}" does not exist on this server; check the database '
            "name at the end of the URL."
        )
    elif "pg_hba.conf" in low:
        text = (
            f"{target} refused connections from our address (no pg_hba.conf entry). Allow "
            "connections from storefleet in your database's network or IP restrictions."
        )
    elif "server does not support ssl" in low or (
        "ssl" in low and ("required" in low or "unsupported" in low or "negotiation" in low)
    ):
        text = (
            f"Could not open a TLS connection to {target}. Remote databases must use TLS "
            "(sslmode=require or stricter): enable SSL on the server, or use the connection "
            "string your provider gives for external clients."
        )
    elif "ssl" in low and "certificate" in low:
        text = (
            f"The TLS certificate of {target} could not be verified. Use sslmode=require, "
            "or sslmode=verify-full with sslrootcert=system if the certificate is public."
        )
    elif "too many connections" in low or "remaining connection slots" in low:
        text = (
            f"{target} has no free connection slots. Close idle connections or use your "
            "provider's pooler connection string."
        )
    elif "network is unreachable" in low:
        text = (
            f"Could not reach {target}: the network is unreachable from our servers. If this "
            "is a Supabase direct connection (db.<project-ref>.supabase.co, IPv6 only), use "
            "the pooler connection string instead."
        )
    elif "authentication method requirement" in low or "server requested a cleartext" in low:
        text = (
            f"{target} did not check the password the way storefleet requires "
            "(SCRAM-SHA-256): it trusts connections or asks for a cleartext password. "
            "Enable password_encryption = scram-sha-256 and a scram-sha-256 line in "
            "pg_hba.conf for this user, then set the password again."
        )
    elif isinstance(exc, psycopg.errors.ConnectionTimeout) or any(
        needle in low for needle in UNREACHABLE_NEEDLES
    ):
        text = unreachable_message(url)
    else:
        first = next((line.strip() for line in message.splitlines() if line.strip()), "")
        text = f"Could not connect to the database: {first or type(exc).__name__}"
    return scrub_password(text, url)


def _isolation(can_create_role: bool, bypass_rls: bool) -> tuple[Isolation, str]:
    if can_create_role:
        return "dedicated_role", (
            "Requests will run as a separate role we create, which does not own the tables "
            "and has no BYPASSRLS, so row-level security is enforced on every query. The user "
            "in this URL is used only to create that role and run migrations."
        )
    note = (
        "This user cannot create roles, so requests will run as this user, which owns the "
        "tables. Your store's data is still alone in this database, but row-level security "
        "is a weaker second wall: it holds only because it is forced on the owner."
    )
    if bypass_rls:
        note += " This user has BYPASSRLS, so row-level security is not enforced at all."
    return "owner_role", note + " Grant CREATEROLE to this user for a dedicated request role."


async def inspect_external_database(
    raw: str,
    *,
    allow_private: bool,
    policy: ForeignPolicy | None = None,
) -> tuple[ExternalDatabaseReport, ResolvedTarget]:
    """Validate the URL, connect once and report what this database can do for a store.

    Returns the report and the checked target: every later connection for the store goes
    to exactly those addresses. The connection is made under ``policy`` (timeouts, no
    credential of ours offered, SCRAM required); ``prepare_threshold=None`` keeps psycopg
    from creating server-side prepared statements, so the check works through
    PgBouncer/Supavisor in transaction mode (port 6543).
    """
    policy = policy or ForeignPolicy()
    url = validate_url_shape(raw, allow_private=allow_private)
    budget = policy.connect_timeout + 2
    try:
        with anyio.fail_after(budget):
            checked = await check_host_allowed(url, allow_private=allow_private)
            url = checked.url
            conninfo = libpq_conninfo(policy.apply(url, checked.addresses))
            try:
                conn = await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True, prepare_threshold=None
                )
            except psycopg.Error as exc:
                raise ExternalDatabaseError(explain_connect_error(exc, url)) from None
            async with conn:
                try:
                    cur = await conn.execute(_REPORT_QUERY)
                    row = await cur.fetchone()
                except psycopg.Error as exc:
                    first = (str(exc).splitlines() or [""])[0]
                    raise ExternalDatabaseError(
                        scrub_password(f"The database refused our check query: {first}", url)
                    ) from None
    except TimeoutError:
        raise ExternalDatabaseError(unreachable_message(url)) from None
    if row is None:
        raise ExternalDatabaseError("The connecting user was not found in pg_roles.")

    version, version_text, user, database, can_create, superuser, createrole, bypass = row
    version_text = str(version_text).split()[0] if version_text else str(version)
    if int(version) < MIN_SERVER_VERSION:
        raise ExternalDatabaseError(
            f"PostgreSQL 15 or newer is required; this server runs {version_text}. Upgrade the "
            "server or choose a newer one."
        )
    if not can_create:
        raise ExternalDatabaseError(
            f'The user "{user}" has no CREATE privilege on database "{database}", so we cannot '
            f"create the store's schema. Run GRANT CREATE ON DATABASE {database} TO {user}; "
            "as the database owner, or use the owner's credentials."
        )
    can_create_role = bool(superuser or createrole)
    bypass_rls = bool(superuser or bypass)
    isolation, note = _isolation(can_create_role, bypass_rls)
    report = ExternalDatabaseReport(
        server_version=int(version),
        server_version_text=version_text,
        user=str(user),
        database=str(database),
        behind_pooler=is_behind_pooler(url),
        can_create_schema=bool(can_create),
        can_create_role=can_create_role,
        is_superuser=bool(superuser),
        bypass_rls=bypass_rls,
        isolation=isolation,
        isolation_note=note,
    )
    return report, checked
