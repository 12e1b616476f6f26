"""Engine factory and the bootstrap that makes sure the control database exists."""

from __future__ import annotations

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storefleet.config import Settings
from storefleet.db.embedded import start_embedded_server
from storefleet.db.urls import libpq_conninfo, parse_url, with_database


def database_error_text(exc: BaseException) -> str:
    """The database's own message (no SQL, no URL) when there is one, on one line."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return f"{type(orig).__name__}: {first}"[:1000]


def server_url(settings: Settings, *, stop_at_exit: bool = True) -> URL:
    """URL of the server holding the control plane, starting the embedded one if needed."""
    if settings.database_url:
        return parse_url(settings.database_url)
    return start_embedded_server(settings.home, stop_at_exit=stop_at_exit)


def control_url(settings: Settings, *, stop_at_exit: bool = True) -> URL:
    """URL of the control-plane database; created on the embedded server when missing."""
    url = server_url(settings, stop_at_exit=stop_at_exit)
    if settings.database_url:
        return url
    control = with_database(url, settings.control_database)
    ensure_database(url, settings.control_database)
    return control


def ensure_database(admin_url: URL, name: str, *, template: str | None = None) -> bool:
    """Create database ``name`` if it does not exist; True when it was created."""
    with psycopg.connect(libpq_conninfo(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists:
            return False
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        try:
            conn.execute(stmt)
        except psycopg.errors.DuplicateDatabase:
            return False
        return True


def create_engine_for(url: URL, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    """The control-plane engine; no server-side prepared statements, so it also works when
    the control database sits behind a transaction-mode pooler (Supavisor port 6543).

    No pre-ping, like the tenant engines: a ping is a ``SELECT 1`` plus its own BEGIN and
    ROLLBACK on every checkout, which tripled the round trips of a credit spend. A
    connection the server closed fails its statement as a disconnect, which invalidates
    the pool, and connections are recycled every 30 minutes."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={"prepare_threshold": None},
    )
