"""Plan limits where they bite: products and orders a month (402), the per-minute and
per-month API calls (429), stores (403)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.api.errors import status_for
from storefleet.api.ratelimit import RateLimit, SlidingWindow
from storefleet.config import Settings
from storefleet.control.billing.limits import (
    PlanLimitReached,
    check_product_limit,
    plan_limits_cache,
)
from storefleet.control.usage.monthly import MonthlyRequests, month_of, next_month
from storefleet.control.usage.service import UsageRecorder
from storefleet.db.urls import libpq_conninfo
from storefleet.runtime import Runtime
from storefleet.testing import (
    PLACEMENTS,
    Accounts,
    Stores,
    asgi_client,
    bearer,
    make_settings,
    unique_name,
)
from tests.commerce.orders.test_checkout_concurrency import carts
from tests.commerce.orders.test_checkout_e2e import Shop, ok, problem

TINY_PLAN = uuid.UUID(int=99)
FEW_ORDERS_PLAN = uuid.UUID(int=98)
MONTHLY_PLAN = uuid.UUID(int=97)
MONTHLY = 6


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Settings:
    # Monthly counts are re-read only at start here, so each test sees one read exactly.
    return make_settings(
        tmp_path_factory.mktemp("home"),
        control_db,
        max_stores_per_account=2,
        monthly_usage_refresh_seconds=3600,
    )


@pytest.fixture(scope="module", autouse=True)
def tiny_plan(control_db: URL) -> None:
    with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO plans (id, code, name, currency, monthly_price, annual_price, "
            "included_credits, max_products, max_api_calls_per_minute, trial_days, is_active, "
            "position) VALUES (%s, 'tiny', 'Tiny', 'USD', 0, 0, 0, 2, 5, 0, true, 9)",
            (TINY_PLAN,),
        )
        conn.execute(
            "INSERT INTO plans (id, code, name, currency, monthly_price, annual_price, "
            "included_credits, max_orders_per_month, trial_days, is_active, position) "
            "VALUES (%s, 'few-orders', 'Few orders', 'USD', 0, 0, 0, 3, 0, true, 8)",
            (FEW_ORDERS_PLAN,),
        )
        conn.execute(
            "INSERT INTO plans (id, code, name, currency, monthly_price, annual_price, "
            "included_credits, max_api_calls_per_month, max_api_calls_per_minute, trial_days, "
            "is_active, position) VALUES (%s, 'monthly', 'Monthly', 'USD', 0, 0, 0, %s, 1000, "
            "0, true, 9)",
            (MONTHLY_PLAN, MONTHLY),
        )


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def put_on_plan(control_conn: psycopg.Connection, store_id: object, code: str) -> None:
    control_conn.execute(
        "UPDATE subscriptions SET plan_id = (SELECT id FROM plans WHERE code = %s) "
        "WHERE store_id = %s",
        (code, str(store_id)),
    )


def test_product_limit_is_402_naming_the_limit(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    store = stores.create("pool")
    store_id = uuid.UUID(str(store["id"]))
    sessions = runtime_of(client).control_sessions

    client.portal.call(check_product_limit, sessions, store_id, 99)  # type: ignore[union-attr]
    with pytest.raises(PlanLimitReached) as caught:
        client.portal.call(check_product_limit, sessions, store_id, 100)  # type: ignore[union-attr]
    assert status_for(caught.value) == 402
    assert caught.value.extra == {
        "limit": "max_products",
        "plan": "free",
        "current": 100,
        "allowed": 100,
    }
    put_on_plan(control_conn, store_id, "tiny")
    with pytest.raises(PlanLimitReached) as tiny:
        client.portal.call(check_product_limit, sessions, store_id, 2)  # type: ignore[union-attr]
    assert tiny.value.extra["plan"] == "tiny" and tiny.value.extra["allowed"] == 2
    put_on_plan(control_conn, store_id, "enterprise")  # no product limit at all
    client.portal.call(check_product_limit, sessions, store_id, 10**6)  # type: ignore[union-attr]


def test_per_minute_rate_is_429_with_retry_after_and_per_store(
    client: TestClient, stores: Stores, accounts: Accounts, control_conn: psycopg.Connection
) -> None:
    store, neighbour = stores.create("pool"), stores.create("schema")
    put_on_plan(control_conn, store["id"], "tiny")
    put_on_plan(control_conn, neighbour["id"], "tiny")
    runtime = runtime_of(client)
    budgets = RateLimit.parts(runtime)
    budgets.limits.invalidate()
    now = [1000.0]  # a fixed clock: 40 s into a window
    budgets.set_clock(lambda: now[0])
    try:
        url = f"/api/stores/{store['id']}/subscription"
        stranger = bearer(accounts.register()["token"])
        for _ in range(8):  # callers who are not the owner or staff do not count
            assert client.get(url, headers=stranger).status_code == 404
            assert client.get(url).status_code == 401
        for _ in range(5):
            assert client.get(url, headers=store["headers"]).status_code == 200
        limited = client.get(url, headers=store["headers"])
        assert limited.status_code == 429
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert limited.headers["retry-after"] == "32"  # 20 s to the window's end + 12 s slide
        assert limited.json()["limit"] == "max_api_calls_per_minute"
        assert limited.json()["allowed"] == 5 and limited.json()["plan"] == "tiny"
        assert limited.json()["scope"] == "admin"
        # The storefront has its own allowance, apart from the owner's.
        storefront = client.get("/api/storefront/store", headers={"X-Store-Id": store["id"]})
        assert storefront.status_code == 200
        neighbour_url = f"/api/stores/{neighbour['id']}/subscription"
        assert client.get(neighbour_url, headers=neighbour["headers"]).status_code == 200

        # Limits are cached: a plan changed behind the API's back shows after the TTL ...
        put_on_plan(control_conn, store["id"], "starter")
        assert client.get(url, headers=store["headers"]).status_code == 429
        now[0] += 120
        assert client.get(url, headers=store["headers"]).status_code == 200
        # ... but a plan change through the API applies at once (tiny is free: no payment).
        changed = client.post(url, json={"plan": "tiny"}, headers=store["headers"])
        assert changed.status_code == 200, changed.text
        statuses = [client.get(url, headers=store["headers"]).status_code for _ in range(8)]
        assert statuses == [200] * 3 + [429] * 5
    finally:
        budgets.set_clock(SlidingWindow().clock)
        budgets.limits.invalidate()


def test_sliding_window_weighs_the_previous_minute() -> None:
    now = [0.0]
    window = SlidingWindow(clock=lambda: now[0])
    key = uuid.uuid4()
    assert [window.acquire(key, 10) for _ in range(10)] == [None] * 10
    assert window.acquire(key, 10) == 66  # 60 s to the next window, then 6 s of slide
    now[0] = 90.0  # half of the previous minute still overlaps: 5 of 10 left
    assert [window.acquire(key, 10) for _ in range(5)] == [None] * 5
    assert window.acquire(key, 10) == 6  # until 60 % of the previous minute has slid out
    window.release(key)
    assert window.acquire(key, 10) is None


def test_stores_per_account_are_capped(
    client: TestClient, accounts: Accounts, stores: Stores, control_conn: psycopg.Connection
) -> None:
    owner = accounts.register()
    stores.create("pool", owner=owner)
    stores.create("pool", owner=owner)
    third = client.post(
        "/api/stores",
        headers=bearer(owner["token"]),
        json={"name": "Third", "slug": f"third-{uuid.uuid4().hex[:8]}", "placement": "pool"},
    )
    assert third.status_code == 403
    assert third.json()["errors"][0]["field"] == "stores"
    assert "maximum of 2 stores" in third.json()["detail"]
    count = control_conn.execute(
        "SELECT count(*) FROM stores WHERE owner_id = %s", (owner["user"]["id"],)
    ).fetchone()
    assert count == (2,)


def ready_shop(client: TestClient, stores: Stores, placement: str) -> tuple[Shop, dict, str]:
    """A store with something to sell, on the plan that allows 3 orders a month."""
    shop = Shop(client, stores.create(placement))
    shop.tax_class("standard", 1900, default=True)
    shop.payment_method()
    method = shop.shipping({"USD": 500})
    item = shop.product("Limited", {"USD": 1000}, stock=50)
    return shop, item, method


def on_plan(client: TestClient, control_conn: psycopg.Connection, shop: Shop, code: str) -> None:
    put_on_plan(control_conn, shop.id, code)
    cache = plan_limits_cache(runtime_of(client).extras)
    if cache is not None:
        cache.invalidate()


def tenant_sql(control_conn: psycopg.Connection, pg_server: URL, store_id: str, sql: str) -> None:
    """Owner-level SQL in the store's data (what an older month or release left behind)."""
    database, schema = control_conn.execute(
        "SELECT database_name, schema_name FROM store_databases WHERE store_id = %s", (store_id,)
    ).fetchone()  # type: ignore[misc]
    with psycopg.connect(libpq_conninfo(pg_server.set(database=database)), autocommit=True) as t:
        t.execute(f'SET search_path TO "{schema}"')
        t.execute(sql.replace(":store", f"'{store_id}'"))  # type: ignore[arg-type]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_orders_per_month_limit_is_402_naming_the_limit(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    pg_server: URL,
    placement: str,
) -> None:
    shop, item, method = ready_shop(client, stores, placement)
    on_plan(client, control_conn, shop, "few-orders")
    tokens = carts(client, shop, 5, item, method)
    for token in tokens[:3]:
        ok(shop.checkout(token), 201)
    refused = shop.checkout(tokens[3])
    body = problem(refused, 402)
    assert (body["limit"], body["plan"], body["allowed"], body["current"]) == (
        "max_orders_per_month", "few-orders", 3, 3,
    )  # fmt: skip
    assert shop.stock(item)["reserved"] == 3
    assert [o["number"] for o in shop.get("/orders", sort="number")["items"]] == [1, 2, 3]

    # The month's counter, if lost, is rebuilt from the month's orders ...
    tenant_sql(control_conn, pg_server, shop.id, "DELETE FROM store_counters WHERE "
               "store_id = :store AND name LIKE 'orders:%%'")  # fmt: skip
    problem(shop.checkout(tokens[3]), 402)
    # ... and last month's orders do not count.
    tenant_sql(control_conn, pg_server, shop.id, "UPDATE orders SET placed_at = "
               "placed_at - interval '40 days' WHERE store_id = :store")  # fmt: skip
    tenant_sql(control_conn, pg_server, shop.id, "DELETE FROM store_counters WHERE "
               "store_id = :store AND name LIKE 'orders:%%'")  # fmt: skip
    order = ok(shop.checkout(tokens[3]), 201)
    assert order["number"] == 4  # the refusals took no number
    on_plan(client, control_conn, shop, "enterprise")  # no monthly limit
    ok(shop.checkout(tokens[4]), 201)


@pytest.mark.parametrize("placement", ["pool", "database"])
def test_concurrent_checkouts_never_overshoot_the_monthly_orders(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, placement: str
) -> None:
    shop, item, method = ready_shop(client, stores, placement)
    on_plan(client, control_conn, shop, "few-orders")
    tokens = carts(client, shop, 12, item, method)
    ok(shop.checkout(tokens[0]), 201)

    async def race() -> list[httpx.Response]:
        async with asgi_client(client.app) as http:
            racer = shop.using(http)  # type: ignore[arg-type]
            return list(
                await asyncio.gather(
                    *(
                        http.post(
                            f"/api/storefront/carts/{token}/checkout",
                            headers={**racer.front, "Idempotency-Key": unique_name("race")},
                            json={"payment_method_code": "manual"},
                        )
                        for token in tokens[1:]
                    )
                )
            )

    results = client.portal.call(race)  # type: ignore[union-attr]
    assert Counter(r.status_code for r in results) == {201: 2, 402: 9}, [r.text for r in results]
    assert {r.json()["limit"] for r in results if r.status_code == 402} == {"max_orders_per_month"}
    orders = shop.get("/orders", sort="number")["items"]
    assert [o["number"] for o in orders] == [1, 2, 3]
    assert shop.stock(item)["reserved"] == 3


def test_sliding_window_stays_bounded_when_keys_are_sprayed() -> None:
    window = SlidingWindow(clock=lambda: 5.0, max_keys=50)
    for i in range(1000):  # all active in the same window: none idle to drop
        assert window.acquire(("store", f"2001:db8::{i:x}"), 1) is None
        assert len(window._state) <= 50


def metered(control_conn: psycopg.Connection, store_id: object, day: date, requests: int) -> None:
    control_conn.execute(
        "INSERT INTO usage_metrics (store_id, day, requests, errors, orders, products, "
        "storage_bytes) VALUES (%s, %s, %s, 0, 0, 0, 0) ON CONFLICT (store_id, day) "
        "DO UPDATE SET requests = excluded.requests",
        (str(store_id), day, requests),
    )


def metered_this_month(control_conn: psycopg.Connection, store_id: object) -> int:
    row = control_conn.execute(
        "SELECT coalesce(sum(requests), 0) FROM usage_metrics WHERE store_id = %s "
        "AND day >= date_trunc('month', now() AT TIME ZONE 'UTC')",
        (str(store_id),),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_monthly_api_calls_are_429_on_the_storefront_and_survive_a_restart(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    settings: Settings,
    control_db: URL,
) -> None:
    store = stores.create("pool")
    put_on_plan(control_conn, store["id"], "monthly")
    today = datetime.now(UTC).date()
    first = month_of(today)
    metered(control_conn, store["id"], first - timedelta(days=1), 10**6)  # last month
    metered(control_conn, store["id"], today, 2)  # served before this process started
    runtime = runtime_of(client)
    shop = {"X-Store-Id": str(store["id"])}
    storefront = [client.get("/api/storefront/store", headers=shop).status_code for _ in range(3)]
    owner = client.get(f"/api/stores/{store['id']}/subscription", headers=store["headers"])
    assert (storefront, owner.status_code) == ([200] * 3, 200)  # 2 + 4 = 6 calls: all used
    refused = client.get("/api/storefront/store", headers=shop)
    assert refused.status_code == 429
    body = refused.json()
    assert body["limit"] == "max_api_calls_per_month"
    assert (body["plan"], body["allowed"], body["current"]) == ("monthly", MONTHLY, MONTHLY)
    resets = next_month(first)
    assert body["resets_at"] == datetime(resets.year, resets.month, 1, tzinfo=UTC).isoformat()
    wait = int(refused.headers["retry-after"])
    assert 0 < wait <= 31 * 86400
    # The owner's admin calls go on (to change the plan, for one); they still count.
    assert (
        client.get(f"/api/stores/{store['id']}/subscription", headers=store["headers"]).status_code
        == 200
    )

    # Metered into the control plane (the refusal is not a call of the store's) ...
    recorder = runtime.extras["usage_recorder"]
    assert isinstance(recorder, UsageRecorder)
    client.portal.call(recorder.flush)  # type: ignore[union-attr]
    assert metered_this_month(control_conn, store["id"]) == 2 + 5
    # ... so a process started afresh refuses at once.
    with TestClient(create_app(settings, control_db), raise_server_exceptions=False) as fresh:
        again = fresh.get("/api/storefront/store", headers=shop)
        assert again.status_code == 429, again.text
        assert again.json()["current"] == 7
        # A plan without the limit lifts it.
        put_on_plan(control_conn, store["id"], "enterprise")
        RateLimit.parts(runtime_of(fresh)).limits.invalidate(uuid.UUID(str(store["id"])))
        assert fresh.get("/api/storefront/store", headers=shop).status_code == 200


def test_monthly_count_adds_this_process_calls_without_counting_them_twice(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    store_id = uuid.UUID(str(stores.create("pool")["id"]))
    today = datetime.now(UTC).date()
    metered(control_conn, store_id, today, 10)
    now = [0.0]
    day = [today]
    counts = MonthlyRequests(
        runtime_of(client).control_sessions,
        refresh_seconds=5,
        clock=lambda: now[0],
        today=lambda: day[0],
    )

    async def settle() -> None:
        await asyncio.gather(*counts._tasks)

    def count() -> int:
        found: int = client.portal.call(counts.count, store_id)  # type: ignore[union-attr]
        client.portal.call(settle)  # type: ignore[union-attr]
        return found

    assert count() == 10  # the first read is waited for
    counts.add(store_id)
    counts.add(store_id)
    metered(control_conn, store_id, today, 11)  # one of the two flushed, by now
    assert count() == 12  # not due: no read
    now[0] = 6
    assert count() == 12  # due: read in the background, the answer meanwhile is the old one
    assert count() == 11  # the two before that read are in the metered sum or on their way
    counts.add(store_id)
    assert count() == 12
    metered(control_conn, store_id, today, 13)
    now[0] = 12
    count()
    assert count() == 13
    day[0] = next_month(month_of(today))  # a new month starts from its own metered sum
    assert count() == 0
