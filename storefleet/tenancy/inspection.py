"""Inspecting a store owner's database once its URL passed the guard: what can it do?

``storefleet.tenancy.external`` decides whether a URL may be connected to at all; this
connects once, under the foreign policy, and reports the server version, the privileges
the tenant schema needs and which isolation the store will get. A failure to connect
becomes a sentence the store owner can act on; no message ever contains the password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import anyio
import psycopg
from sqlalchemy.engine import URL

from storefleet.db.foreign import ForeignPolicy, is_behind_pooler
from storefleet.db.urls import libpq_conninfo
from storefleet.tenancy.external import (
    DEFAULT_PORT,
    ExternalDatabaseError,
    ResolvedTarget,
    check_host_allowed,
    scrub_password,
    validate_url_shape,
)

MIN_SERVER_VERSION = 150000

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


def _target(url: URL) -> str:
    if url.host:
        return f"{url.host}:{url.port or DEFAULT_PORT}"
    socket_dir = url.query.get("host")
    return f"the server at {socket_dir}" if isinstance(socket_dir, str) else "the server"


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
