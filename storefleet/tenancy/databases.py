"""Server-level database mechanics of provisioning: databases, roles' races, admin pools.

Concurrent first provisions (in one process or several) are safe: the races another
process can cause (duplicate database, role or extension, ``tuple concurrently updated`` on
GRANT) are absorbed and retried. ``ServerConnections`` keeps autocommit connections to
``postgres`` open per server, so ``CREATE DATABASE … TEMPLATE`` costs no new connection.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.engine import URL

from storefleet.db.locks import Key
from storefleet.db.urls import engine_url_and_args, libpq_conninfo
from storefleet.tenancy import ddl
from storefleet.tenancy.source import ServerAccess

RACE_ATTEMPTS = 8

T = TypeVar("T")


@dataclass(frozen=True)
class PlatformDatabases:
    """Names of the shared tenant database and the template, per control database."""

    tenants: str
    template: str

    @classmethod
    def for_control(cls, control_database: str) -> PlatformDatabases:
        base = ddl.checked_database(control_database)[:40]
        return cls(tenants=f"{base}_tenants", template=f"{base}_tmpl")


def driver_connection(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a SQLAlchemy one (for pipelining in its transaction)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver


def absorb_races(action: Callable[[], T]) -> T:
    """Run catalog work that another process may be doing at the same moment.

    Two first provisions racing on the same server collide on ``CREATE ROLE``/``CREATE
    EXTENSION`` (unique violations on the catalog) or on ``GRANT`` (``tuple concurrently
    updated``); the statements are idempotent, so running them again succeeds.
    """
    for attempt in range(RACE_ATTEMPTS):
        try:
            return action()
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject) as exc:
            error: Exception = exc
        except psycopg.errors.InternalError_ as exc:
            if "concurrently" not in str(exc):
                raise
            error = exc
        if attempt == RACE_ATTEMPTS - 1:
            raise error
        time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


class AdminEngines:
    """Small sync pools for owner-level work, one per (server, database)."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def get(self, url: URL) -> Engine:
        key = url.render_as_string(hide_password=False)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine_url, connect_args = engine_url_and_args(url)
                engine = create_engine(
                    engine_url,
                    pool_size=2,
                    max_overflow=4,
                    pool_recycle=600,
                    connect_args={"prepare_threshold": None, **connect_args},
                )
                self._engines[key] = engine
            return engine

    def forget_database(self, database: str) -> None:
        with self._lock:
            for key in [k for k, e in self._engines.items() if e.url.database == database]:
                self._engines.pop(key).dispose()

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class ServerConnections:
    """Per server: kept-open autocommit connections to ``postgres`` for CREATE DATABASE.

    A new store database is then seeded over one plain psycopg connection (no engine, and
    nothing in the tenant engine registry while it is provisioned).
    """

    KEEP_IDLE = 2

    def __init__(self) -> None:
        self._idle: dict[uuid.UUID, list[psycopg.Connection[Any]]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def postgres(self, server: ServerAccess) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            idle = self._idle.setdefault(server.id, [])
            conn = idle.pop() if idle else None
        if conn is None or conn.closed or conn.broken:
            conn = psycopg.connect(
                libpq_conninfo(server.admin("postgres")), autocommit=True, prepare_threshold=None
            )
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        with self._lock:
            idle = self._idle.setdefault(server.id, [])
            if len(idle) < self.KEEP_IDLE and not conn.closed:
                idle.append(conn)
                conn = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            for idle in self._idle.values():
                for conn in idle:
                    conn.close()
            self._idle.clear()


def create_database_statement(name: str, template: str | None = None) -> sql.Composed:
    if template:
        return sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
            sql.Identifier(ddl.checked_database(name)),
            sql.Identifier(ddl.checked_database(template)),
            sql.Identifier(ddl.OWNER_ROLE),
        )
    return sql.SQL("CREATE DATABASE {} OWNER {}").format(
        sql.Identifier(ddl.checked_database(name)), sql.Identifier(ddl.OWNER_ROLE)
    )


def create_database_on(conn: psycopg.Connection[Any], name: str, template: str | None) -> bool:
    """CREATE DATABASE unless it exists; waits for a busy template. True when created.

    A concurrent creation of the same name fails with DuplicateDatabase, or with a unique
    violation on ``pg_database_datname_index`` when both passed the existence check at once.
    """
    stmt = create_database_statement(name, template)
    for attempt in range(50):
        try:
            conn.execute(stmt)
            return True
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            return False
        except psycopg.errors.ObjectInUse:
            if attempt == 49:
                raise
            time.sleep(0.1)
    return False


def ensure_database(admin: URL, name: str, *, template: str | None = None) -> bool:
    """CREATE DATABASE (optionally from a template) unless it exists; retries a busy template."""
    ddl.checked_database(name)
    with psycopg.connect(
        libpq_conninfo(admin.set(database="postgres")), autocommit=True, prepare_threshold=None
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        return create_database_on(conn, name, template)


def drop_database(admin: URL, name: str) -> None:
    ddl.checked_database(name)
    with psycopg.connect(
        libpq_conninfo(admin.set(database="postgres")), autocommit=True, prepare_threshold=None
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def prepare_database_access(conn: psycopg.Connection[Any], database: str) -> None:
    """Extensions, and CONNECT for the request role only, on a shared database (once)."""
    name = sql.Identifier(ddl.checked_database(database))
    with conn.transaction():
        # Serializes extension creation and database grants across processes.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (int(Key.PREPARE_SERVER),))
        for statement in ddl.extension_statements():
            conn.execute(statement.encode())
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(name))
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                name, sql.Identifier(ddl.APP_ROLE)
            )
        )
