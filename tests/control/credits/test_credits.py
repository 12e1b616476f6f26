"""The credit ledger: exact under concurrency, idempotent, and delivered exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.config import Settings
from storefleet.control.credits import outbox
from storefleet.control.credits import service as credits
from storefleet.db.urls import libpq_conninfo
from storefleet.runtime import Runtime
from storefleet.testing import Stores

SERVICE = "ai.product_description"


class Killed(BaseException):
    """Stands for the worker process dying: nothing after it runs, nothing catches it."""


def run(settings: Settings, control_db: URL, work: Callable[[Runtime], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        runtime = Runtime.build(settings, control_db)
        await runtime.start()
        try:
            return await work(runtime)
        finally:
            await runtime.aclose()

    return asyncio.run(main())


@pytest.fixture(scope="module", autouse=True)
def price(control_db: URL) -> None:
    with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO service_credit_costs (id, service_key, cost, is_active, description, "
            "effective_from) VALUES (gen_random_uuid(), %s, 1, true, 'test', "
            "now() - interval '1 minute')",
            (SERVICE,),
        )


def tenant_credit_rows(client: TestClient, store_id: str) -> tuple[list[tuple], tuple | None]:
    runtime: Runtime = client.app.state.runtime

    async def read() -> tuple[list[tuple], tuple | None]:
        from sqlalchemy import text

        async with runtime.tenancy.session(uuid.UUID(store_id), write=False) as s:
            log = (
                await s.execute(text("SELECT id, ledger_seq, amount FROM credit_spending_log"))
            ).all()
            cache = (
                await s.execute(text("SELECT balance, ledger_seq FROM credit_balance_cache"))
            ).first()
            return [tuple(r) for r in log], tuple(cache) if cache else None

    return client.portal.call(read)  # type: ignore[union-attr]


def ledger(control_conn: psycopg.Connection, store_id: str) -> list[tuple]:
    return control_conn.execute(
        "SELECT id, seq, amount, balance_after FROM credit_transactions WHERE store_id = %s "
        "ORDER BY seq",
        (store_id,),
    ).fetchall()


def test_new_store_starts_on_free_trial_with_included_credits(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    store = stores.create("pool")
    sub = client.get(f"/api/stores/{store['id']}/subscription", headers=store["headers"]).json()
    assert sub["status"] == "trial" and sub["plan"]["code"] == "free"
    rows = ledger(control_conn, str(store["id"]))
    assert [(r[2], r[3]) for r in rows] == [(100, 100)]
    truth = client.get(
        "/api/credits/balance", params={"store_id": store["id"]}, headers=store["headers"]
    )
    assert truth.json()["balance"] == 100
    plans = client.get("/api/plans").json()
    assert [p["code"] for p in plans] == ["free", "starter", "professional", "enterprise"]


@pytest.mark.parametrize("placement", ["pool", "database"])
def test_200_concurrent_spends_against_100(
    settings: Settings,
    control_db: URL,
    stores: Stores,
    control_conn: psycopg.Connection,
    client: TestClient,
    placement: str,
) -> None:
    store = stores.create(placement)
    store_id = uuid.UUID(str(store["id"]))

    async def work(runtime: Runtime) -> tuple[int, int]:
        async def one(i: int) -> bool:
            try:
                await credits.spend(
                    runtime.control_sessions, store_id, SERVICE, idempotency_key=f"k{i}"
                )
                return True
            except credits.InsufficientCredits:
                return False

        results = await asyncio.gather(*(one(i) for i in range(200)))
        return sum(results), len(results) - sum(results)

    ok, refused = run(settings, control_db, work)
    assert (ok, refused) == (100, 100)
    assert control_conn.execute(
        "SELECT balance FROM credit_balances WHERE store_id = %s", (str(store_id),)
    ).fetchone() == (0,)
    rows = ledger(control_conn, str(store_id))
    assert len(rows) == 101 and all(r[3] >= 0 for r in rows)
    assert [r[3] for r in rows] == list(range(100, -1, -1))

    async def check(runtime: Runtime) -> list[Any]:
        async with runtime.control_sessions() as session:
            return list(await credits.verify(session))

    assert run(settings, control_db, check) == []

    # The outbox delivers every ledger row to the tenant exactly once.
    delivered = run(settings, control_db, outbox.deliver_all)
    assert not delivered.failed
    log, cache = tenant_credit_rows(client, str(store_id))
    assert sorted(r[0] for r in log) == sorted(r[0] for r in rows)
    assert cache == (0, rows[-1][1])


def test_same_idempotency_key_debits_once(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    store = stores.create("schema")
    url = f"/api/stores/{store['id']}/credits/spend"
    body = {"service": SERVICE, "idempotency_key": "order-42-description"}
    first = client.post(url, json=body, headers=store["headers"])
    second = client.post(url, json=body, headers=store["headers"])
    assert first.status_code == second.status_code == 200
    assert first.json()["replayed"] is False and second.json()["replayed"] is True
    assert first.json()["transaction"]["id"] == second.json()["transaction"]["id"]
    assert second.json()["balance"] == 99
    assert control_conn.execute(
        "SELECT balance FROM credit_balances WHERE store_id = %s", (store["id"],)
    ).fetchone() == (99,)


def test_concurrent_spends_with_one_key_debit_once(
    settings: Settings, control_db: URL, stores: Stores, control_conn: psycopg.Connection
) -> None:
    """The spend statement's snapshot cannot see a concurrent twin: the loser's debit is
    rolled back and it answers with the winner's row."""
    store = stores.create("pool")
    store_id = uuid.UUID(str(store["id"]))

    async def work(runtime: Runtime) -> list[credits.Posted]:
        return list(
            await asyncio.gather(
                *(
                    credits.spend(runtime.control_sessions, store_id, SERVICE, idempotency_key="k")
                    for _ in range(10)
                )
            )
        )

    posted = run(settings, control_db, work)
    assert [p.created for p in posted].count(True) == 1
    assert len({p.transaction.id for p in posted}) == 1
    assert {p.transaction.balance_after for p in posted} == {99}
    assert control_conn.execute(
        "SELECT balance FROM credit_balances WHERE store_id = %s", (str(store_id),)
    ).fetchone() == (99,)
    assert len(ledger(control_conn, str(store_id))) == 2


def test_short_balance_is_402_and_changes_nothing(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    store = stores.create("pool")
    control_conn.execute(
        "INSERT INTO service_credit_costs (id, service_key, cost, is_active, description, "
        "effective_from) VALUES (gen_random_uuid(), 'video.render', 150, true, '', "
        "now() - interval '1 minute')"
    )
    response = client.post(
        f"/api/stores/{store['id']}/credits/spend",
        json={"service": "video.render", "idempotency_key": "v1"},
        headers=store["headers"],
    )
    assert response.status_code == 402
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("insufficient-credits")
    assert len(ledger(control_conn, str(store["id"]))) == 1
    unknown = client.post(
        f"/api/stores/{store['id']}/credits/spend",
        json={"service": "no.such.service", "idempotency_key": "v2"},
        headers=store["headers"],
    )
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["field"] == "service"
    bad = client.post(
        f"/api/stores/{store['id']}/credits/spend",
        json={"service": "BAD KEY", "idempotency_key": ""},
        headers=store["headers"],
    )
    assert bad.status_code == 422


@pytest.mark.parametrize("kill_at", ["tenant_written", "before_mark"])
def test_worker_killed_mid_delivery_then_restart(
    settings: Settings,
    control_db: URL,
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    kill_at: str,
) -> None:
    store = stores.create("schema")
    store_id = uuid.UUID(str(store["id"]))
    run(settings, control_db, outbox.deliver_all)

    async def spend_some(runtime: Runtime) -> None:
        for i in range(5):
            await credits.spend(
                runtime.control_sessions, store_id, SERVICE, idempotency_key=f"s{i}"
            )

    run(settings, control_db, spend_some)

    def die(phase: str, _: uuid.UUID) -> None:
        if phase == kill_at:
            raise Killed

    async def crash(runtime: Runtime) -> None:
        with pytest.raises(Killed):
            await outbox.deliver_pending(runtime, fault=die)

    run(settings, control_db, crash)
    pending = control_conn.execute(
        "SELECT count(*) FROM credit_outbox WHERE store_id = %s AND delivered_at IS NULL",
        (str(store_id),),
    ).fetchone()
    assert pending == (5,)
    run(settings, control_db, outbox.deliver_all)
    rows = ledger(control_conn, str(store_id))
    log, cache = tenant_credit_rows(client, str(store_id))
    assert sorted(r[0] for r in log) == sorted(r[0] for r in rows)
    assert len(log) == len(rows) == 6
    assert cache == (95, rows[-1][1])


def test_reconcile_repairs_drift_and_verify_catches_mismatch(
    settings: Settings,
    control_db: URL,
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    pg_server: URL,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = stores.create("pool")
    store_id = str(store["id"])
    run(settings, control_db, outbox.deliver_all)
    where = control_conn.execute(
        "SELECT database_name, schema_name FROM store_databases WHERE store_id = %s", (store_id,)
    ).fetchone()
    with psycopg.connect(libpq_conninfo(pg_server.set(database=where[0])), autocommit=True) as t:
        t.execute(f'SET search_path TO "{where[1]}"')
        t.execute("DELETE FROM credit_spending_log WHERE store_id = %s", (store_id,))
        t.execute("UPDATE credit_balance_cache SET balance = 7 WHERE store_id = %s", (store_id,))
    report = run(settings, control_db, lambda r: outbox.reconcile(r, [uuid.UUID(store_id)]))
    assert (report.rows_added, report.caches_fixed) == (1, 1)
    log, cache = tenant_credit_rows(client, store_id)
    assert len(log) == 1 and cache is not None and cache[0] == 100

    from storefleet.cli.main import app as cli
    from storefleet.config import get_settings

    monkeypatch.setenv("STOREFLEET_HOME", str(settings.home))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        ok = CliRunner().invoke(cli, ["credits", "verify"])
        assert ok.exit_code == 0, ok.output
        control_conn.execute(
            "UPDATE credit_balances SET balance = balance + 5 WHERE store_id = %s", (store_id,)
        )
        broken = CliRunner().invoke(cli, ["credits", "verify"])
        assert broken.exit_code == 1 and store_id[:8] in broken.output
    finally:
        control_conn.execute(
            "UPDATE credit_balances SET balance = balance - 5 WHERE store_id = %s", (store_id,)
        )
        get_settings.cache_clear()


def test_ledger_is_append_only(control_conn: psycopg.Connection, stores: Stores) -> None:
    stores.create("pool")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        control_conn.execute("UPDATE credit_transactions SET amount = 1000")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        control_conn.execute("DELETE FROM credit_transactions")


def test_cached_balance_and_transactions_pages(
    settings: Settings, control_db: URL, client: TestClient, stores: Stores
) -> None:
    store = stores.create("database")
    for i in range(3):
        client.post(
            f"/api/stores/{store['id']}/credits/spend",
            json={"service": SERVICE, "idempotency_key": f"p{i}"},
            headers=store["headers"],
        )
    run(settings, control_db, outbox.deliver_all)
    cached = client.get(f"/api/stores/{store['id']}/credits", headers=store["headers"]).json()
    assert cached["balance"] == 97 and cached["source"] == "tenant_cache"
    assert cached["age_seconds"] is not None and cached["age_seconds"] >= 0
    page = client.get(
        f"/api/stores/{store['id']}/credits/transactions",
        params={"limit": 2},
        headers=store["headers"],
    ).json()
    assert page["total"] == 4 and len(page["items"]) == 2
    assert page["items"][0]["balance_after"] == 97
    too_big = client.get(
        f"/api/stores/{store['id']}/credits/transactions",
        params={"limit": 5000},
        headers=store["headers"],
    )
    assert too_big.status_code == 422
