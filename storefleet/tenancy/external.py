"""The guard behind "connect your own database": a store owner hands us a PostgreSQL URL.

The URL is untrusted input. Before storefleet connects anywhere it must make sure the URL
cannot be used to reach our own network (loopback, private, link-local, cloud metadata
addresses) and that remote traffic is encrypted; whether the server is new enough and
grants what the tenant schema needs is ``storefleet.tenancy.inspection``'s question. Every
failure becomes an :class:`ExternalDatabaseError` whose message says what is wrong and what
to do; no message ever contains the password.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import NamedTuple

from sqlalchemy.engine import URL

from storefleet import blocking
from storefleet.db.urls import DatabaseURLError, parse_url
from storefleet.errors import InvalidInput

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


class ExternalDatabaseError(InvalidInput):
    """The store owner's database URL cannot be used; the detail says why and what to do."""

    def __init__(self, detail: str, *, field: str | None = "database_url") -> None:
        super().__init__(detail, field=field)


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


# --- messages --------------------------------------------------------------------------


def scrub_password(text: str, url: URL) -> str:
    """Belt and braces: whatever a message says, it must not contain the password."""
    password = url.password
    if password:
        for form in {str(password), str(url.render_as_string(hide_password=False))}:
            if form:
                text = text.replace(form, "***")
    return text
