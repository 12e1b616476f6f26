"""Checkouts racing for the last units and the last uses of a code, over real connections.

A real uvicorn server (its own event loop and connection pools) listens on a free port;
each buyer is a thread with its own ``httpx.Client``, released together by a barrier.

Decided and checked here: a checkout that loses the race for stock gets 409 naming the
line (``items.0.variant_id``); one that loses the race for a code's last use gets 409
naming ``code`` and no order — it never silently succeeds without the discount it showed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.commerce.carts.models import Cart, CartItem
from storefleet.commerce.carts.service import new_token
from storefleet.config import Settings
from storefleet.db.ids import uuid7
from storefleet.testing import Stores, live_server, unique_name
from tests.commerce.orders.test_checkout_e2e import BERLIN, Shop, call, ok, runtime_of


@pytest.fixture(scope="module")
def server(settings: Settings, control_db: URL) -> Iterator[str]:
    with live_server(create_app(settings, control_db), limit_concurrency=500) as url:
        yield url


@pytest.fixture(scope="module")
def shop(server: str, stores: Stores) -> Iterator[Shop]:
    with httpx.Client(base_url=server, timeout=60) as http:
        shop = Shop(http, stores.create("pool"))
        shop.tax_class("standard", 1900, default=True)
        shop.payment_method()
        yield shop


@pytest.fixture(scope="module")
def method(shop: Shop) -> str:
    return shop.shipping({"USD": 500})


def in_parallel(n: int, work: Callable[[int, Shop], Any], shop: Shop, server: str) -> list[Any]:
    """``work(i, own_shop)`` in n threads, each with its own connection, started together."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        with httpx.Client(base_url=server, timeout=120) as http:
            own = shop.using(http)
            barrier.wait()
            return work(i, own)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def carts(
    client: TestClient,
    shop: Shop,
    n: int,
    variant: dict[str, Any],
    method: str,
    code: str | None = None,
) -> list[str]:
    """n ready carts of one unit each, written in one transaction (the cart API has its own
    tests; here only the checkouts race)."""
    tokens = [new_token() for _ in range(n)]
    price = variant["prices"][0]["amount"]

    async def run() -> None:
        store_id = uuid.UUID(shop.id)
        async with runtime_of(client).tenancy.session(store_id) as s:
            for i, token in enumerate(tokens):
                cart = Cart(
                    store_id=store_id,
                    id=uuid7(),
                    token=token,
                    email=f"racer{i}@example.com",
                    currency="USD",
                    shipping_address=BERLIN,
                    shipping_method_id=uuid.UUID(method),
                    applied_codes=[code] if code else [],
                    status="active",
                    expires_at=datetime.now(UTC) + timedelta(days=1),
                )
                s.add(cart)
                s.add(
                    CartItem(
                        store_id=store_id,
                        cart_id=cart.id,
                        variant_id=uuid.UUID(variant["id"]),
                        quantity=1,
                        unit_amount=price,
                    )
                )

    call(client, run)
    return tokens


def fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


def test_fifty_checkouts_for_the_last_ten_units(
    client: TestClient, shop: Shop, method: str, server: str
) -> None:
    last = shop.product("Last units", {"USD": 2500}, stock=10)
    tokens = carts(client, shop, 50, last, method)
    keys = [unique_name("race") for _ in tokens]
    started = time.perf_counter()
    results = in_parallel(50, lambda i, own: own.checkout(tokens[i], key=keys[i]), shop, server)
    elapsed = time.perf_counter() - started
    statuses = Counter(r.status_code for r in results)
    assert statuses == {201: 10, 409: 40}, statuses
    for r in results:
        if r.status_code == 409:
            assert fields(r) == ["items.0.variant_id"] and r.json()["variant_id"] == last["id"]
    level = shop.stock(last)
    assert (level["on_hand"], level["reserved"], level["available"]) == (10, 10, 0)
    orders = shop.get("/orders", sort="number", limit=200)["items"]
    assert [o["number"] for o in orders] == list(range(1, 11))
    won = {r.json()["id"] for r in results if r.status_code == 201}
    assert {o["id"] for o in orders} == won
    print(
        f"\n50 concurrent checkouts: {elapsed:.2f}s, {elapsed / 50 * 1000:.0f} ms each on average"
    )

    # A retry with the same key answers the order it placed, and places nothing new.
    i = next(n for n, r in enumerate(results) if r.status_code == 201)
    again = shop.checkout(tokens[i], key=keys[i])
    assert again.status_code == 200 and again.json() == results[i].json()
    # Retries racing each other for one fresh cart: one order, the same for all of them.
    plenty = shop.product("Plenty", {"USD": 100}, stock=100)
    (token,) = carts(client, shop, 1, plenty, method)
    same = in_parallel(8, lambda _, own: own.checkout(token, key="retry-storm"), shop, server)
    assert sorted(r.status_code for r in same) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in same}) == 1 and same[0].json()["number"] == 11
    assert len(shop.get("/orders", limit=200)["items"]) == 11


def test_code_with_five_uses_under_thirty_checkouts(
    client: TestClient, shop: Shop, method: str, server: str
) -> None:
    item = shop.product("Coded", {"USD": 1000}, stock=100)
    discount_id = shop.discount("FIVE", code_limit=5, kind="percentage", value=2000)
    tokens = carts(client, shop, 30, item, method, code="FIVE")
    results = in_parallel(30, lambda i, own: own.checkout(tokens[i]), shop, server)
    statuses = Counter(r.status_code for r in results)
    assert statuses == {201: 5, 409: 25}, statuses
    for r in results:
        if r.status_code == 201:
            assert r.json()["discount_total"] == 200 and r.json()["discount_codes"] == ["FIVE"]
        else:
            assert fields(r) == ["code"]
    redemptions = shop.get(f"/discounts/{discount_id}/redemptions")
    assert redemptions["total"] == 5
    assert {x["order_id"] for x in redemptions["items"]} == {
        r.json()["id"] for r in results if r.status_code == 201
    }
    (code,) = shop.get(f"/discounts/{discount_id}/codes")["items"]
    assert code["usage_count"] == 5 and shop.get(f"/discounts/{discount_id}")["usage_count"] == 5
    assert shop.stock(item)["reserved"] == 5
    numbers = [o["number"] for o in shop.get("/orders", sort="number", limit=200)["items"]]
    assert numbers == list(range(1, len(numbers) + 1))  # losers took no numbers
    # A loser's cart is still open: without the code it checks out at full price.
    loser = next(tokens[i] for i, r in enumerate(results) if r.status_code == 409)
    ok(shop.cart_call("DELETE", loser, "/codes/five"))
    order = ok(shop.checkout(loser), 201)
    assert order["discount_total"] == 0
