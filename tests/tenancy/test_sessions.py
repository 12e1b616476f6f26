"""``tenancy.session``: the store context never outlives its transaction.

Run directly against the server and again through PgBouncer in transaction mode, with pools
of one connection so every session reuses the connection the previous store used.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from storefleet.config import Settings
from storefleet.db.urls import libpq_conninfo
from storefleet.errors import ServiceUnavailable
from storefleet.runtime import Runtime
from storefleet.tenancy.engines import EngineRegistry
from storefleet.tenancy.session import Tenancy
from storefleet.tenancy.source import ServerAccess
from storefleet.testing import Stores
from tests.pgbouncer import PgBouncer, pgbouncer  # noqa: F401

READ_CONTEXT = text(
    "SELECT current_setting('storefleet.store_id', true), current_schema(), "
    "array(SELECT DISTINCT store_id::text FROM users)"
)


@pytest.fixture(scope="module")
def four_stores(stores: Stores) -> list[dict]:
    """Two pool stores (same tables) and two schema stores (same database)."""
    return [
        stores.create("pool"),
        stores.create("pool"),
        stores.create("schema"),
        stores.create("schema"),
    ]


@pytest.fixture(params=["direct", "pgbouncer"])
def through(request: pytest.FixtureRequest) -> PgBouncer | None:
    """Tenant connections straight to the server, or through PgBouncer in transaction mode."""
    if request.param == "direct":
        return None
    bouncer: PgBouncer = request.getfixturevalue("pgbouncer")
    return bouncer


def run_with_tenancy(
    settings: Settings,
    control_db: URL,
    work: Callable[[Tenancy], Awaitable[None]],
    *,
    through: PgBouncer | None = None,
    pool_size: int = 1,
) -> None:
    async def main() -> None:
        runtime = Runtime.build(settings, control_db)
        await runtime.start()
        tenancy = Tenancy(
            runtime.tenancy.source,
            EngineRegistry(
                max_engines=4,
                pool_size=pool_size,
                shared_pool_size=pool_size,
                shared_max_overflow=0,
            ),
        )
        if through is not None:
            async with runtime.control_sessions() as s:
                server = (
                    await s.execute(text("SELECT id FROM database_servers WHERE is_default"))
                ).scalar_one()
                real = await tenancy.server(server)
            tenancy._servers[server] = ServerAccess(
                id=real.id,
                name=real.name,
                admin_url=through.url_for("postgres", username=real.admin_url.username),
                app_password=real.app_password,
            )
        try:
            await work(tenancy)
            if through is not None:
                # Every tenant connection of the work went through the bouncer.
                ports = {url.port for url in tenancy.registry.engine_urls()}
                assert ports == {through.port}, ports
        finally:
            await tenancy.aclose()
            await runtime.aclose()

    asyncio.run(main())


async def _alternate(tenancy: Tenancy, store_ids: list[uuid.UUID], rounds: int) -> None:
    for i in range(rounds):
        store_id = store_ids[i % len(store_ids)]
        async with tenancy.session(store_id, write=i % 2 == 0) as s:
            setting, schema, seen = (await s.execute(READ_CONTEXT)).one()
            assert setting == str(store_id)
            assert seen == [str(store_id)]
            placement = await tenancy.placement(store_id)
            assert schema == placement.schema


def _ids(stores: list[dict]) -> list[uuid.UUID]:
    return [uuid.UUID(str(s["id"])) for s in stores]


def test_alternating_stores_on_one_connection(
    settings: Settings, control_db: URL, four_stores: list[dict]
) -> None:
    ids = _ids(four_stores)

    async def work(tenancy: Tenancy) -> None:
        await _alternate(tenancy, ids, 80)
        # one (shared) engine for the shared tenant database, one connection in it
        assert tenancy.registry.shared_engines() == 1
        assert len(tenancy.registry) == 0
        assert tenancy.registry.open_connections() == 1

    run_with_tenancy(settings, control_db, work)


def test_alternating_stores_behind_pgbouncer(
    settings: Settings,
    control_db: URL,
    four_stores: list[dict],
    pgbouncer: PgBouncer,  # noqa: F811
) -> None:
    ids = _ids(four_stores)

    async def work(tenancy: Tenancy) -> None:
        await _alternate(tenancy, ids, 80)
        await asyncio.gather(*(_alternate(tenancy, ids[i:] + ids[:i], 20) for i in range(4)))

    run_with_tenancy(settings, control_db, work, through=pgbouncer, pool_size=4)


def test_savepoint_rollback_keeps_the_store(
    settings: Settings, control_db: URL, four_stores: list[dict], through: PgBouncer | None
) -> None:
    a, b = _ids(four_stores)[:2]

    async def work(tenancy: Tenancy) -> None:
        async with tenancy.session(a) as s:
            nested = await s.begin_nested()
            await s.execute(
                text("SELECT set_config('storefleet.store_id', :b, true)"), {"b": str(b)}
            )
            assert (await s.execute(READ_CONTEXT)).one()[2] == [str(b)]
            await nested.rollback()
            setting, _, seen = (await s.execute(READ_CONTEXT)).one()
            assert setting == str(a) and seen == [str(a)]
        with pytest.raises(RuntimeError):
            async with tenancy.session(a) as s:
                await s.execute(text("SELECT 1"))
                raise RuntimeError("boom")
        async with tenancy.session(b, write=False) as s:
            setting, _, seen = (await s.execute(READ_CONTEXT)).one()
            assert setting == str(b) and seen == [str(b)]

    run_with_tenancy(settings, control_db, work, through=through)


def test_paused_and_unready_stores_refuse_writes(
    settings: Settings,
    control_db: URL,
    four_stores: list[dict],
    control_conn: psycopg.Connection,
    through: PgBouncer | None,
) -> None:
    store_id = _ids(four_stores)[3]
    control_conn.execute(
        "UPDATE store_databases SET writes_paused = true WHERE store_id = %s", (store_id,)
    )

    async def work(tenancy: Tenancy) -> None:
        async with tenancy.session(store_id, write=False) as s:
            assert (await s.execute(READ_CONTEXT)).one()[0] == str(store_id)
        with pytest.raises(ServiceUnavailable) as paused:
            async with tenancy.session(store_id, write=True):
                pass
        assert paused.value.retry_after
        control_conn.execute(
            "UPDATE store_databases SET writes_paused = false, status = 'provisioning' "
            "WHERE store_id = %s",
            (store_id,),
        )
        tenancy.invalidate(store_id)
        with pytest.raises(ServiceUnavailable):
            async with tenancy.session(store_id, write=False):
                pass

    try:
        run_with_tenancy(settings, control_db, work, through=through)
    finally:
        control_conn.execute(
            "UPDATE store_databases SET writes_paused = false, status = 'ready' "
            "WHERE store_id = %s",
            (store_id,),
        )


def test_engine_registry_stays_bounded(
    stores: Stores, settings: Settings, control_db: URL, through: PgBouncer | None
) -> None:
    database_stores = _ids([stores.create("database", publish=False) for _ in range(4)])

    async def work(tenancy: Tenancy) -> None:
        tenancy.registry = EngineRegistry(max_engines=2, pool_size=1)
        for _ in range(2):
            for store_id in database_stores:
                async with tenancy.session(store_id, write=False) as s:
                    assert (await s.execute(READ_CONTEXT)).one()[2] == [str(store_id)]
                assert len(tenancy.registry) <= 2
                assert tenancy.registry.open_connections() <= tenancy.registry.connection_cap()
        await asyncio.sleep(0.2)

    run_with_tenancy(settings, control_db, work, through=through)


def _server_connections(pg_server: URL, databases: list[str]) -> int:
    """Request-role backends the server holds for these databases."""
    with psycopg.connect(
        libpq_conninfo(pg_server.set(database="postgres")), autocommit=True
    ) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE usename = 'storefleet_app' AND datname = ANY(%s)",
            (databases,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_engines_evicted_mid_transaction_close_their_connections(
    stores: Stores, settings: Settings, control_db: URL, pg_server: URL
) -> None:
    """Four stores in transactions at once through a registry of two one-connection
    engines: the two evicted while in use close their connections when the transactions
    end, so the server is left with what the registry holds, within its cap."""
    ids = _ids([stores.create("database", publish=False) for _ in range(4)])
    databases = [f"store_{i.hex}" for i in ids]

    async def work(tenancy: Tenancy) -> None:
        tenancy.registry = EngineRegistry(max_engines=2, pool_size=1)
        inside, release = asyncio.Barrier(len(ids) + 1), asyncio.Event()

        async def hold(store_id: uuid.UUID) -> None:
            async with tenancy.session(store_id, write=False) as s:
                await s.execute(READ_CONTEXT)
                await inside.wait()
                await release.wait()

        tasks = [asyncio.create_task(hold(i)) for i in ids]
        await inside.wait()
        assert await asyncio.to_thread(_server_connections, pg_server, databases) == 4
        assert tenancy.registry.open_connections() == 4  # draining ones are counted
        release.set()
        await asyncio.gather(*tasks)
        await tenancy.registry.settle()
        held = await asyncio.to_thread(_server_connections, pg_server, databases)
        assert held == tenancy.registry.open_connections() == 2
        assert len(tenancy.registry) == 2

    run_with_tenancy(settings, control_db, work)


def test_idle_engines_are_disposed(
    stores: Stores, settings: Settings, control_db: URL, pg_server: URL
) -> None:
    ids = _ids([stores.create("database", publish=False) for _ in range(2)])
    databases = [f"store_{i.hex}" for i in ids]

    async def work(tenancy: Tenancy) -> None:
        tenancy.registry = EngineRegistry(max_engines=4, pool_size=1, idle_seconds=0.3)
        for store_id in ids:
            async with tenancy.session(store_id, write=False) as s:
                await s.execute(READ_CONTEXT)
        assert len(tenancy.registry) == 2
        assert await asyncio.to_thread(_server_connections, pg_server, databases) == 2
        for _ in range(40):
            await asyncio.sleep(0.1)
            if not len(tenancy.registry):
                break
        await tenancy.registry.settle()
        assert len(tenancy.registry) == 0
        assert await asyncio.to_thread(_server_connections, pg_server, databases) == 0
        # and a store used again afterwards gets an engine back
        async with tenancy.session(ids[0], write=False) as s:
            assert (await s.execute(READ_CONTEXT)).one()[2] == [str(ids[0])]

    run_with_tenancy(settings, control_db, work)


@pytest.mark.parametrize("placement", ["pool", "schema", "database"])
def test_read_sessions_are_read_only(
    stores: Stores, settings: Settings, control_db: URL, placement: str
) -> None:
    store_id = _ids([stores.create(placement, publish=False)])[0]

    async def work(tenancy: Tenancy) -> None:
        async with tenancy.session(store_id, write=False) as s:
            assert (await s.execute(text("SHOW transaction_read_only"))).scalar() == "on"
        with pytest.raises(DBAPIError) as refused:
            async with tenancy.session(store_id, write=False) as s:
                await s.execute(text("UPDATE stores SET description = 'written in a read'"))
        assert isinstance(refused.value.orig, psycopg.errors.ReadOnlySqlTransaction)
        async with tenancy.session(store_id, write=True) as s:
            assert (await s.execute(text("SHOW transaction_read_only"))).scalar() == "off"

    run_with_tenancy(settings, control_db, work)
