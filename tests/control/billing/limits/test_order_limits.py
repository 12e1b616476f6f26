"""Plan limits on orders a month: 402 naming the limit, never overshot by concurrent checkouts."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.db.urls import libpq_conninfo
from storefleet.testing import (
    PLACEMENTS,
    Stores,
    asgi_client,
    unique_name,
)
from tests.commerce.orders.test_checkout_concurrency import carts
from tests.commerce.orders.test_checkout_e2e import Shop, ok, problem
from tests.control.billing.limits.helpers import (
    put_on_plan,
    runtime_of,
)


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
    runtime_of(client).plan_limits.invalidate()


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
