"""Store A's owner, staff, carts and customers against store B's orders, discounts and carts.

In every placement: A's credentials on B's paths answer 404 like a missing store; A's paths
with B's ids answer 404 like missing rows; B's cart token, variant, code or shipping method
used through A's storefront does nothing; a customer token of A on B's storefront is refused.
Afterwards B reads back exactly as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.commerce.test_checkout_e2e import Shop, counts, ok, problem
from tests.conftest import PLACEMENTS, Stores
from tests.isolation.attack import Side, make_side, with_store_id


@dataclass
class Store:
    """A store with a catalog, a discount code, a placed order and an open cart."""

    side: Side
    shop: Shop
    method: str
    variant: dict[str, Any]
    discount_id: str
    order: dict[str, Any]
    open_cart: str

    @property
    def id(self) -> str:
        return self.side.id

    @property
    def base(self) -> str:
        return self.shop.base


def build(client: TestClient, side: Side, code: str) -> Store:
    shop = Shop(client, {"id": side.id, "headers": side.owner})
    shop.tax_class("standard", 1900, default=True)
    shop.payment_method()
    method = shop.shipping({"USD": 500})
    variant = shop.product("Thing", {"USD": 1000})
    discount_id = shop.discount(code, kind="percentage", value=1000)
    token = shop.cart()
    shop.add(token, variant, 1)
    shop.ready(token, "buyer@example.com", method, code=code)
    order = ok(shop.checkout(token), 201)
    open_cart = shop.cart()
    shop.add(open_cart, variant, 2)
    return Store(side, shop, method, variant, discount_id, order, open_cart)


class World:
    def __init__(self, client: TestClient, stores: Stores, placement: str) -> None:
        self.client = client
        self.a = build(client, make_side(client, stores, placement, "alpha"), "ACODE")
        self.b = build(client, make_side(client, stores, placement, "bravo"), "BCODE")

    def snapshot_b(self) -> dict[str, Any]:
        b, shop = self.b, self.b.shop
        return {
            "order": shop.get(f"/orders/{b.order['id']}"),
            "orders": shop.get("/orders"),
            "discount": shop.get(f"/discounts/{b.discount_id}"),
            "codes": shop.get(f"/discounts/{b.discount_id}/codes"),
            "redemptions": shop.get(f"/discounts/{b.discount_id}/redemptions"),
            "cart": ok(shop.cart_call("GET", b.open_cart)),
            "stock": shop.stock(b.variant),
            "counts": counts(self.client, b.id),
        }


@pytest.fixture(scope="module")
def worlds(client: TestClient, stores: Stores) -> dict[str, tuple[World, dict[str, Any]]]:
    out = {}
    for placement in PLACEMENTS:
        world = World(client, stores, placement)
        out[placement] = (world, world.snapshot_b())
    return out


@pytest.fixture(params=PLACEMENTS)
def world(
    request: pytest.FixtureRequest, worlds: dict[str, tuple[World, dict[str, Any]]]
) -> Iterator[World]:
    found, before = worlds[request.param]
    yield found
    assert found.snapshot_b() == before  # B unchanged after every attack


def order_routes(base: str, order: dict[str, Any], discount_id: str) -> list[tuple[str, str, Any]]:
    oid, line = order["id"], order["items"][0]["id"]
    return [
        ("GET", f"{base}/orders", None),
        ("GET", f"{base}/orders/{oid}", None),
        ("GET", f"{base}/orders/{oid}/history", None),
        ("POST", f"{base}/orders/{oid}/cancel", {"reason": "mole"}),
        ("POST", f"{base}/orders/{oid}/mark-paid", {"amount": 1}),
        ("POST", f"{base}/orders/{oid}/fulfillments",
         {"items": [{"order_item_id": line, "quantity": 1}]}),
        ("POST", f"{base}/orders/{oid}/refunds", {"amount": 1, "restock": True}),
        ("GET", f"{base}/discounts", None),
        ("POST", f"{base}/discounts", {"name": "mole", "kind": "percentage", "value": 10000}),
        ("GET", f"{base}/discounts/{discount_id}", None),
        ("PATCH", f"{base}/discounts/{discount_id}", {"value": 10000}),
        ("DELETE", f"{base}/discounts/{discount_id}", None),
        ("GET", f"{base}/discounts/{discount_id}/codes", None),
        ("POST", f"{base}/discounts/{discount_id}/codes", {"code": "MOLE"}),
        ("DELETE", f"{base}/discounts/{discount_id}/codes/{uuid.uuid4()}", None),
        ("GET", f"{base}/discounts/{discount_id}/redemptions", None),
    ]  # fmt: skip


def send(
    client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    return client.request(method, path, headers=headers, json=body)


def test_a_owner_and_staff_get_404_on_b_orders_and_discounts(world: World) -> None:
    b = world.b
    for who in (world.a.side.owner, world.a.side.staff):
        for method, path, body in order_routes(b.base, b.order, b.discount_id):
            response = send(world.client, method, path, body, who)
            assert problem(response, 404)["detail"] == "Store not found", (method, path)
            assert b.side.name not in response.text


def test_b_ids_through_a_paths_are_missing_rows(world: World) -> None:
    a = world.a
    b = world.b
    for who in (world.a.side.owner, world.a.side.staff):
        for method, path, body in order_routes(a.base, b.order, b.discount_id)[1:]:
            if (method, path) in {("GET", f"{a.base}/discounts"), ("POST", f"{a.base}/discounts")}:
                continue  # no B id in these two: they act on A, checked below
            response = send(world.client, method, path, body, who)
            assert response.status_code == 404, (method, path, response.text)
            assert problem(response, 404)["detail"] in {"Order not found", "Discount not found"}
    listed = {o["id"] for o in a.shop.get("/orders")["items"]}
    assert listed == {a.order["id"]}
    assert {d["id"] for d in a.shop.get("/discounts")["items"]} == {a.discount_id}
    assert b.order["number"] == a.order["number"] == 1  # numbers are per store
    # A's own order list filtered by B's customer finds nothing.
    assert a.shop.get("/orders", customer_id=b.order["customer_id"])["items"] == []


def test_carts_codes_and_catalog_stay_in_their_store(world: World) -> None:
    a, b = world.a, world.b
    on_a_host = {"host": a.side.hostname}
    on_b_host = {"host": b.side.hostname}
    client = world.client
    # B's cart token through A's Host (and A's through B's): as if it did not exist.
    for token, host in ((b.open_cart, on_a_host), (a.open_cart, on_b_host)):
        base = f"/api/storefront/carts/{token}"
        for method, suffix, body in (
            ("GET", "", None),
            ("GET", "/shipping-options", None),
            ("POST", "/items", {"variant_id": a.variant["id"], "quantity": 1}),
            ("PUT", "/addresses", {"email": "x@example.com", "shipping_address": {
                "line1": "x", "city": "y", "country": "DE"}}),
        ):  # fmt: skip
            response = client.request(method, base + suffix, headers=host, json=body)
            assert problem(response, 404)["detail"] == "Cart not found"
        response = client.post(
            base + "/checkout",
            headers={**host, "Idempotency-Key": "steal"},
            json={"payment_method_code": "manual"},
        )
        assert problem(response, 404)["detail"] == "Cart not found"
    # A's own cart, fed B's variant, code and shipping method.
    own = on_a_host
    token = a.open_cart
    base = f"/api/storefront/carts/{token}"
    before = ok(client.get(base, headers=own))
    problem(
        client.post(base + "/items", headers=own, json={"variant_id": b.variant["id"]}),
        422,
        "variant_id",
    )
    problem(client.post(base + "/codes", headers=own, json={"code": "BCODE"}), 422, "code")
    problem(
        client.put(base + "/shipping-method", headers=own, json={"shipping_method_id": b.method}),
        422,
        "shipping_method_id",
    )
    assert ok(client.get(base, headers=own)) == before


def test_customer_token_of_a_is_refused_on_b(world: World) -> None:
    a, b = world.a, world.b
    customer, _ = a.shop.register()
    client = world.client
    created = client.post("/api/storefront/carts", headers={**a.shop.front, **customer}, json={})
    cart_token = ok(created, 201)["token"]
    for store_signal in ({"host": b.side.hostname}, {"X-Store-Id": b.id}):
        headers = {**store_signal, **customer}
        problem(client.post("/api/storefront/carts", headers=headers, json={}), 400)
        problem(
            client.post(
                f"/api/storefront/carts/{cart_token}/checkout",
                headers={**headers, "Idempotency-Key": "cross"},
                json={"payment_method_code": "manual"},
            ),
            400,
        )
        problem(client.get(f"/api/storefront/carts/{b.open_cart}", headers=headers), 400)
    # The same token with B's store id edited in: the signature no longer holds.
    forged = with_store_id(customer, b.id)
    problem(
        client.post("/api/storefront/carts", headers={"X-Store-Id": b.id, **forged}, json={}), 401
    )
    # A staff token of A buys nothing on B either.
    problem(
        client.post("/api/storefront/carts", headers={"X-Store-Id": b.id, **a.side.staff}, json={}),
        400,
    )
