"""The PgBouncer harness works, and what transaction pooling means for storefleet.

Transaction mode hands a server backend to a client for one transaction only. So a client's
transactions can run on different backends (no server-side prepared statements, no session
state), and one backend's session state is visible to every client that gets it next. That
is why storefleet scopes per-request settings with ``SET LOCAL`` / ``set_config(..., true)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from storefleet.db.urls import libpq_conninfo
from tests.pgbouncer import (
    PgBouncer,
    missing,
    pgbouncer,
    pgbouncer_available,
    start_pgbouncer,
)

__all__ = ["pgbouncer"]  # the session fixture, re-exported for pytest

if not pgbouncer_available():
    missing("pgbouncer", module=True)


def connect(url: URL, **kwargs: object) -> psycopg.Connection:
    """A psycopg connection fit for transaction pooling: no server-side prepared statements."""
    kwargs.setdefault("prepare_threshold", None)
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(libpq_conninfo(url), **kwargs)  # type: ignore[arg-type]


def backend_pid(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


@pytest.fixture
def small_bouncer(
    pg_server: URL, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[PgBouncer]:
    """A fresh pgbouncer whose pool holds ``request.param`` server connections (default 1)."""
    size = getattr(request, "param", 1)
    bouncer = start_pgbouncer(pg_server, tmp_path / "bouncer", default_pool_size=size)
    yield bouncer
    bouncer.stop()


def test_queries_go_through_pgbouncer(pgbouncer: PgBouncer, pg_server: URL) -> None:
    assert pgbouncer.url.port == pgbouncer.port != pg_server.port
    with connect(pgbouncer.url) as conn:
        row = conn.execute("SELECT current_user, current_database()").fetchone()
    assert row == (pg_server.username or "postgres", pg_server.database or "postgres")
    # The admin console answers: this really is pgbouncer, in transaction mode.
    with connect(pgbouncer.url_for("pgbouncer")) as admin:
        admin.cursor_factory = psycopg.ClientCursor
        settings = {r[0]: r[1] for r in admin.execute("SHOW CONFIG").fetchall()}
    assert settings["pool_mode"] == "transaction"
    assert settings["listen_port"] == str(pgbouncer.port)


def test_any_database_name_is_forwarded(pgbouncer: PgBouncer) -> None:
    with connect(pgbouncer.url_for("template1")) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row == ("template1",)


@pytest.mark.parametrize("small_bouncer", [2], indirect=True)
def test_one_client_transactions_can_use_different_backends(small_bouncer: PgBouncer) -> None:
    with connect(small_bouncer.url) as a, connect(small_bouncer.url) as b:
        first = backend_pid(a)  # the pool's only server connection so far
        with b.transaction():
            assert backend_pid(b) == first  # b now holds that backend...
            second = backend_pid(a)  # ...so a's next transaction runs on another one
        assert second != first


def test_transaction_local_settings_do_not_leak(small_bouncer: PgBouncer) -> None:
    """pool size 1: both clients share one backend, yet set_config(..., true) stays put."""
    with connect(small_bouncer.url) as a, connect(small_bouncer.url) as b:
        with a.transaction():
            row = a.execute("SELECT set_config('storefleet.store_id', 'A', true)").fetchone()
            assert row == ("A",)
            pid_a = backend_pid(a)
        row = b.execute(
            "SELECT current_setting('storefleet.store_id', true), pg_backend_pid()"
        ).fetchone()
        assert row is not None
        assert row[1] == pid_a  # the same server backend...
        assert row[0] in ("", None)  # ...and the transaction-local value is gone


def test_plain_session_set_leaks_to_other_clients(small_bouncer: PgBouncer) -> None:
    """Why storefleet never uses plain SET: behind pgbouncer it is another client's state."""
    with connect(small_bouncer.url) as a, connect(small_bouncer.url) as b:
        a.execute("SET storefleet.store_id = 'A'")  # outside a transaction: session-level
        try:
            row = b.execute("SELECT current_setting('storefleet.store_id', true)").fetchone()
            assert row == ("A",)  # client b sees client a's setting
        finally:
            a.execute("RESET storefleet.store_id")


@pytest.mark.parametrize("small_bouncer", [2], indirect=True)
def test_server_side_prepared_statements_break(small_bouncer: PgBouncer) -> None:
    """Why clients pass prepare_threshold=None: a prepared statement stays on one backend."""
    with connect(small_bouncer.url, prepare_threshold=0) as a, connect(small_bouncer.url) as b:
        query = "SELECT pg_backend_pid() WHERE 1 = %s"
        first = a.execute(query, (1,)).fetchone()  # prepared on the pool's only backend
        with b.transaction():
            assert (backend_pid(b),) == first  # b holds that backend now
            with pytest.raises(psycopg.errors.InvalidSqlStatementName):
                a.execute(query, (1,))  # a's statement is not on the other backend


def test_async_engine_through_pgbouncer(pgbouncer: PgBouncer) -> None:
    async def run() -> list[int]:
        engine = create_async_engine(
            pgbouncer.url, connect_args={"prepare_threshold": None}, pool_size=3
        )
        try:
            results = []
            for i in range(20):
                async with engine.connect() as conn:
                    value = await conn.scalar(text("SELECT CAST(:i AS integer) + 1"), {"i": i})
                    results.append(int(value))

            async def one(i: int) -> int:
                async with engine.begin() as conn:
                    return int(await conn.scalar(text("SELECT CAST(:i AS integer)"), {"i": i}))

            results += await asyncio.gather(*(one(i) for i in range(20)))
            return results
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == [i + 1 for i in range(20)] + list(range(20))
