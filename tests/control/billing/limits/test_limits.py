"""Plan limits where they bite: products (402), the per-minute API calls (429), stores (403)."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient

from storefleet.api.errors import status_for
from storefleet.control.billing.limits import (
    PlanLimitReached,
    check_product_limit,
)
from storefleet.control.usage.budgets import SlidingWindow
from storefleet.testing import (
    Accounts,
    Stores,
    bearer,
)
from tests.control.billing.limits.helpers import (
    put_on_plan,
    runtime_of,
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
    budgets = runtime.rate_budgets
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


def test_sliding_window_stays_bounded_when_keys_are_sprayed() -> None:
    window = SlidingWindow(clock=lambda: 5.0, max_keys=50)
    for i in range(1000):  # all active in the same window: none idle to drop
        assert window.acquire(("store", f"2001:db8::{i:x}"), 1) is None
        assert len(window._state) <= 50
