"""Store A's owner, staff, carts and customers against store B's orders, discounts and carts.

In every placement: A's credentials on B's paths answer 404 like a missing store; A's paths
with B's ids answer 404 like missing rows; B's cart token, variant, code or shipping method
used through A's storefront does nothing; a customer token of A on B's storefront is refused.
Afterwards B reads back exactly as before. Each refused call is made again by the same
caller on A's own rows (fresh orders, discounts and carts) and works: the positive control.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from storefleet.testing import PLACEMENTS, Stores, unique_name
from tests.commerce.orders.test_checkout_e2e import BERLIN, Shop, counts, ok, problem
from tests.isolation.attack import (
    Request,
    Side,
    allowed,
    make_side,
    refused,
    refused_then_allowed,
    with_store_id,
)


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
    # Every order and live discount of the store, as the store's own lists must show them.
    orders: set[str] = field(default_factory=set)
    discounts: set[str] = field(default_factory=set)

    @property
    def id(self) -> str:
        return self.side.id

    @property
    def base(self) -> str:
        return self.shop.base

    def ready_cart(self, headers: dict[str, str] | None = None) -> str:
        token = self.shop.cart(headers=headers)
        self.shop.add(token, self.variant, 1)
        self.shop.ready(token, "buyer@example.com", self.method)
        return token

    def new_order(self) -> dict[str, Any]:
        order: dict[str, Any] = ok(self.shop.checkout(self.ready_cart()), 201)
        self.orders.add(order["id"])
        return order

    def new_discount(self) -> tuple[str, str]:
        """A discount of the store's own with one code: (discount id, code id)."""
        discount = self.shop.post("/discounts", {"name": unique_name("d"), "kind": "percentage",
                                                 "value": 500})  # fmt: skip
        code = self.shop.post(f"/discounts/{discount['id']}/codes", {"code": unique_name("C")})
        self.discounts.add(discount["id"])
        return discount["id"], code["id"]

    def own_routes(self) -> list[Request]:
        """``order_routes`` on rows of this store's own that each call may act on."""
        discount_id, code_id = self.new_discount()
        order, cancel = self.new_order(), self.new_order()
        return order_routes(self.base, order, discount_id, cancel=cancel, code_id=code_id)

    def track(self, answers: list[httpx.Response]) -> None:
        """Follow the discounts that the controls created and deleted."""
        for answer in answers:
            method, path = answer.request.method, answer.request.url.path
            if (method, path) == ("POST", f"{self.base}/discounts"):
                self.discounts.add(answer.json()["id"])
            elif method == "DELETE" and path.startswith(f"{self.base}/discounts/"):
                self.discounts.discard(path.rsplit("/", 1)[-1])


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
    return Store(side, shop, method, variant, discount_id, order, open_cart, {order["id"]},
                 {discount_id})  # fmt: skip


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


def order_routes(
    base: str,
    order: dict[str, Any],
    discount_id: str,
    *,
    cancel: dict[str, Any] | None = None,
    code_id: str | None = None,
) -> list[Request]:
    """The order and discount routes; ``cancel`` is cancelled instead of ``order`` (which is
    paid, fulfilled and refunded), ``code_id`` deleted instead of a random id."""
    oid, line = order["id"], order["items"][0]["id"]
    return [
        ("GET", f"{base}/orders", None),
        ("GET", f"{base}/orders/{oid}", None),
        ("GET", f"{base}/orders/{oid}/history", None),
        ("POST", f"{base}/orders/{(cancel or order)['id']}/cancel", {"reason": "mole"}),
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
        ("DELETE", f"{base}/discounts/{discount_id}/codes/{code_id or uuid.uuid4()}", None),
        ("GET", f"{base}/discounts/{discount_id}/redemptions", None),
    ]  # fmt: skip


def test_a_owner_and_staff_get_404_on_b_orders_and_discounts(world: World) -> None:
    a, b = world.a, world.b
    attacks = order_routes(b.base, b.order, b.discount_id)
    for who in (a.side.owner, a.side.staff):
        for (method, path, _), response in zip(
            attacks, refused(world.client, attacks, who, status=404), strict=True
        ):
            assert problem(response, 404)["detail"] == "Store not found", (method, path)
            assert b.side.name not in response.text
        a.track(allowed(world.client, a.own_routes(), who, like=attacks))


def test_b_ids_through_a_paths_are_missing_rows(world: World) -> None:
    a = world.a
    b = world.b
    on_a = {("GET", f"{a.base}/discounts"), ("POST", f"{a.base}/discounts")}
    for who in (world.a.side.owner, world.a.side.staff):
        # No B id in the list and the creation: they act on A, checked below.
        pairs = [
            (attack, control)
            for attack, control in zip(
                order_routes(a.base, b.order, b.discount_id)[1:], a.own_routes()[1:], strict=True
            )
            if attack[:2] not in on_a
        ]
        attacks = [attack for attack, _ in pairs]
        for response in refused(world.client, attacks, who, status=404):
            assert problem(response, 404)["detail"] in {"Order not found", "Discount not found"}
        a.track(allowed(world.client, [control for _, control in pairs], who, like=attacks))
    listed = {o["id"] for o in a.shop.get("/orders", limit=100)["items"]}
    assert listed == a.orders
    assert {d["id"] for d in a.shop.get("/discounts", limit=100)["items"]} == a.discounts
    assert b.order["number"] == a.order["number"] == 1  # numbers are per store
    # A's own order list filtered by B's customer finds nothing.
    assert a.shop.get("/orders", customer_id=b.order["customer_id"])["items"] == []


def cart_calls(token: str, variant: dict[str, Any]) -> list[Request]:
    base = f"/api/storefront/carts/{token}"
    return [
        ("GET", base, None),
        ("GET", f"{base}/shipping-options", None),
        ("POST", f"{base}/items", {"variant_id": variant["id"], "quantity": 1}),
        ("PUT", f"{base}/addresses", {"email": "x@example.com", "shipping_address": {
            "line1": "x", "city": "y", "country": "DE"}}),
    ]  # fmt: skip


def checkout(client: TestClient, token: str, headers: dict[str, str]) -> httpx.Response:
    return client.post(
        f"/api/storefront/carts/{token}/checkout",
        headers={**headers, "Idempotency-Key": unique_name("key")},
        json={"payment_method_code": "manual"},
    )


def test_carts_codes_and_catalog_stay_in_their_store(world: World) -> None:
    a, b = world.a, world.b
    on_a_host = {"host": a.side.hostname}
    on_b_host = {"host": b.side.hostname}
    client = world.client
    # B's cart token through A's Host (and A's through B's): as if it did not exist. A fresh
    # cart of A's, on A's Host, takes the same calls.
    for token, host in ((b.open_cart, on_a_host), (a.open_cart, on_b_host)):
        for response in refused_then_allowed(
            client,
            cart_calls(token, a.variant),
            host,
            cart_calls(a.shop.cart(), a.variant),
            on_a_host,
        ):
            assert problem(response, 404)["detail"] == "Cart not found"
        response = client.post(
            f"/api/storefront/carts/{token}/checkout",
            headers={**host, "Idempotency-Key": "steal"},
            json={"payment_method_code": "manual"},
        )
        assert problem(response, 404)["detail"] == "Cart not found"
        a.orders.add(ok(checkout(client, a.ready_cart(), on_a_host), 201)["id"])
    # A's own cart, fed B's variant, code and shipping method; A's own are taken.
    own = on_a_host
    token = a.open_cart
    base = f"/api/storefront/carts/{token}"
    before = ok(client.get(base, headers=own))
    fresh = f"/api/storefront/carts/{a.shop.cart()}"
    ok(client.put(f"{fresh}/addresses", headers=own, json={"email": "x@example.com",
                                                          "shipping_address": BERLIN}))  # fmt: skip
    for suffix, theirs, mine, name in (
        ("/items", b.variant["id"], a.variant["id"], "variant_id"),
        ("/codes", "BCODE", "ACODE", "code"),
        ("/shipping-method", b.method, a.method, "shipping_method_id"),
    ):
        method = "PUT" if suffix == "/shipping-method" else "POST"
        [response] = refused_then_allowed(
            client,
            [(method, base + suffix, {name: theirs})],
            own,
            [(method, fresh + suffix, {name: mine})],
            own,
            status=422,
        )
        problem(response, 422, name)
    assert ok(client.get(base, headers=own)) == before


def test_customer_token_of_a_is_refused_on_b(world: World) -> None:
    a, b = world.a, world.b
    customer, customer_id = a.shop.register()
    client = world.client
    own = {**a.shop.front, **customer}
    cart_token = ok(client.post("/api/storefront/carts", headers=own, json={}), 201)["token"]
    a.shop.add(cart_token, a.variant, 1)
    a.shop.ready(cart_token, "buyer@example.com", a.method)
    for store_signal in ({"host": b.side.hostname}, {"X-Store-Id": b.id}):
        headers = {**store_signal, **customer}
        for response in refused_then_allowed(
            client,
            [
                ("POST", "/api/storefront/carts", {}),
                ("GET", f"/api/storefront/carts/{b.open_cart}", None),
            ],
            headers,
            [
                ("POST", "/api/storefront/carts", {}),
                ("GET", f"/api/storefront/carts/{cart_token}", None),
            ],
            own,
            status=400,
        ):
            problem(response, 400)
        problem(
            client.post(
                f"/api/storefront/carts/{cart_token}/checkout",
                headers={**headers, "Idempotency-Key": "cross"},
                json={"payment_method_code": "manual"},
            ),
            400,
        )
    # The customer's own checkout, in A: it works there.
    placed = ok(checkout(client, cart_token, own), 201)
    assert placed["customer_id"] == customer_id
    a.orders.add(placed["id"])
    # The same token with B's store id edited in: the signature no longer holds.
    forged = with_store_id(customer, b.id)
    problem(
        client.post("/api/storefront/carts", headers={"X-Store-Id": b.id, **forged}, json={}), 401
    )
    # A staff token of A buys nothing on B either; on A's own storefront it may open a cart.
    refused_then_allowed(
        client,
        [("POST", "/api/storefront/carts", {})],
        {"X-Store-Id": b.id, **a.side.staff},
        [("POST", "/api/storefront/carts", {})],
        {"X-Store-Id": a.id, **a.side.staff},
        status=400,
    )
