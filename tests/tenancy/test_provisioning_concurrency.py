"""Concurrent first provisions, in one process and across two, all end ``ready``.

Two ``Runtime``s on the module's fresh control database stand for two server processes:
neither has prepared the server yet, and the shared tenants database and the template do
not exist. 8 stores per placement are provisioned at once, split over both runtimes, so
``CREATE DATABASE`` of the shared database, the grants on it and the template preparation
race in PostgreSQL as well as inside each process.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from storefleet.config import Settings
from storefleet.control.accounts.models import Account
from storefleet.control.accounts.service import create_account
from storefleet.control.stores.service import create_store
from storefleet.db.urls import libpq_conninfo, with_database
from storefleet.runtime import Runtime
from storefleet.testing import PLACEMENTS, STRONG_PASSWORD, make_settings

PER_PLACEMENT = 8


async def register_stores(runtime: Runtime) -> dict[str, list[uuid.UUID]]:
    """An owner and ``PER_PLACEMENT`` pending stores per placement (not provisioned)."""
    async with runtime.control_sessions() as s, s.begin():
        owner = await create_account(
            s,
            email=f"conc-{uuid.uuid4().hex[:8]}@example.com",
            password=STRONG_PASSWORD,
            first_name="Con",
            last_name="Current",
        )
    ids: dict[str, list[uuid.UUID]] = {}
    async with runtime.control_sessions() as s, s.begin():
        account = await s.get(Account, owner.id)
        assert account is not None
        for placement in PLACEMENTS:
            for i in range(PER_PLACEMENT):
                store, _ = await create_store(
                    s,
                    runtime.provisioner,
                    account,
                    name=f"Concurrent {placement} {i}",
                    slug=f"conc-{placement}-{i}-{uuid.uuid4().hex[:8]}",
                    placement=placement,
                    max_stores=1000,
                )
                ids.setdefault(placement, []).append(store.id)
    return ids


async def provision_all_at_once(home: Path, control_db: URL) -> tuple[dict[str, list], list]:
    runtimes = [Runtime.build(make_settings(home, control_db), control_db) for _ in range(2)]
    try:
        for runtime in runtimes:
            await runtime.start()
        ids = await register_stores(runtimes[0])
        jobs = [
            runtimes[i % 2].provisioner.provision(store_id)
            for store_ids in ids.values()
            for i, store_id in enumerate(store_ids)
        ]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        return ids, results
    finally:
        for runtime in runtimes:
            await runtime.aclose()


def test_concurrent_first_provisions_all_end_ready(
    settings: Settings, control_db: URL, control_conn: psycopg.Connection, pg_server: URL
) -> None:
    ids, results = asyncio.run(provision_all_at_once(settings.home, control_db))

    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert {r.status for r in results} == {"ready"}
    all_ids = [str(i) for store_ids in ids.values() for i in store_ids]
    rows = control_conn.execute(
        "SELECT d.status, d.step, d.last_error, s.status, d.database_name, d.schema_name, "
        "d.store_id FROM store_databases d JOIN stores s ON s.id = d.store_id "
        "WHERE d.store_id = ANY(%s::uuid[])",
        (all_ids,),
    ).fetchall()
    assert len(rows) == 3 * PER_PLACEMENT
    assert {r[:4] for r in rows} == {("ready", "ready", None, "active")}

    # Every store has exactly its seed rows, counted as the superuser (RLS bypassed).
    for _, _, _, _, database, schema, store_id in rows:
        with psycopg.connect(libpq_conninfo(with_database(pg_server, database))) as conn:
            for table in ("stores", "store_configs", "users", "currency_settings"):
                count = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}.{} WHERE store_id = %s").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    ),
                    (store_id,),
                ).fetchone()
                assert count == (1,), (table, store_id)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_provision_is_idempotent_once_ready(
    settings: Settings, control_db: URL, control_conn: psycopg.Connection, placement: str
) -> None:
    """A ready store provisioned again (twice at once) returns ready without failing."""

    async def main() -> list[str]:
        runtime = Runtime.build(make_settings(settings.home, control_db), control_db)
        try:
            await runtime.start()
            ids = await register_stores(runtime)
            store_id = ids[placement][0]
            await runtime.provisioner.provision(store_id)
            again = await asyncio.gather(
                runtime.provisioner.provision(store_id), runtime.provisioner.provision(store_id)
            )
            return [r.status for r in again]
        finally:
            await runtime.aclose()

    assert asyncio.run(main()) == ["ready", "ready"]
