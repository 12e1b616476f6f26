"""Checkout idempotency, order transitions, listing and history (pool store).

Every refused request is a problem body naming the field, and the store's order, cart,
payment and stock rows are counted before and after to prove nothing was written.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storefleet.testing import Stores
from tests.commerce.orders.test_checkout_e2e import (
    Shop,
    call,
    counts,
    ok,
    problem,
    runtime_of,
)


def placed_order(shop: Shop, method: str, variant: dict[str, Any], quantity: int = 2) -> Any:
    token = shop.cart()
    shop.add(token, variant, quantity)
    shop.ready(token, "buyer@example.com", method)
    return ok(shop.checkout(token), 201)


def test_checkout_is_idempotent_and_a_cart_converts_once(
    client: TestClient, shop: Shop, method: str
) -> None:
    shirt = shop.product("Idem", {"USD": 1500}, stock=5)
    token = shop.cart()
    shop.add(token, shirt, 2)
    shop.ready(token, "idem@example.com", method)
    first = shop.checkout(token, key="same-key")
    order = ok(first, 201)
    before = counts(client, shop.id)
    again = ok(shop.checkout(token, key="same-key"), 200)
    assert again == order
    assert counts(client, shop.id) == before
    assert shop.stock(shirt)["reserved"] == 2
    # The converted cart is read-only; another key on it is a conflict.
    problem(shop.checkout(token, key="other-key"), 409, "token")
    problem(
        shop.cart_call("POST", token, "/items", {"variant_id": shirt["id"], "quantity": 1}),
        409,
        "token",
    )
    assert ok(shop.cart_call("GET", token))["status"] == "converted"
    # The key belongs to that cart: on another cart it is refused.
    second = shop.cart()
    shop.add(second, shirt, 1)
    shop.ready(second, "idem@example.com", method)
    before = counts(client, shop.id)
    problem(shop.checkout(second, key="same-key"), 409, "Idempotency-Key")
    assert counts(client, shop.id) == before
    # Not enough stock: 409 naming the line, and nothing is reserved.
    shop.add(second, shirt, 3)  # 4 in the cart, 3 left
    before = counts(client, shop.id)
    body = problem(shop.checkout(second), 409, "items.0.variant_id")
    assert body["variant_id"] == shirt["id"]
    assert counts(client, shop.id) == before
    assert shop.stock(shirt)["reserved"] == 2


def test_order_transitions(client: TestClient, shop: Shop, method: str) -> None:
    mug = shop.product("Mug", {"USD": 1000}, stock=10)
    order = placed_order(shop, method, mug, 2)  # 2000 + 500 shipping, 19 % tax → 2975
    assert order["total"] == 2000 + 500 + 380 + 95
    oid, line = order["id"], order["items"][0]["id"]
    path = f"{shop.base}/orders/{oid}"

    def refused(suffix: str, body: Any, field: str) -> None:
        before = counts(client, shop.id)
        problem(client.post(path + suffix, headers=shop.admin, json=body), 409, field)
        assert counts(client, shop.id) == before

    refused("/refunds", {"amount": 100}, "amount")  # nothing paid yet
    refused("/fulfillments", {"items": [{"order_item_id": line, "quantity": 3}]}, "items")
    refused("/mark-paid", {"amount": 2976}, "amount")
    problem(
        client.post(
            path + "/fulfillments",
            headers=shop.admin,
            json={"items": [{"order_item_id": str(uuid.uuid4()), "quantity": 1}]},
        ),
        422,
        "items.0.order_item_id",
    )
    half = shop.post(f"/orders/{oid}/mark-paid", {"amount": 1000}, 200)
    assert (half["payment_status"], half["paid_amount"]) == ("partially_paid", 1000)
    refused("/refunds", {"amount": 1001}, "amount")
    refused(
        "/refunds", {"amount": 10, "items": [{"order_item_id": line, "quantity": 1}]}, "items"
    )  # nothing shipped to return
    full = shop.post(f"/orders/{oid}/mark-paid", {}, 200)
    assert (full["payment_status"], full["paid_amount"]) == ("paid", 2975)
    refused("/mark-paid", {}, "amount")
    done = shop.post(
        f"/orders/{oid}/fulfillments",
        {"items": [{"order_item_id": line, "quantity": 1}, {"order_item_id": line, "quantity": 1}]},
    )
    assert (done["fulfillment_status"], done["status"]) == ("fulfilled", "completed")
    assert len(done["fulfillments"]) == 1 and done["fulfillments"][0]["items"][0]["quantity"] == 2
    refused("/fulfillments", {"items": [{"order_item_id": line, "quantity": 1}]}, "items")
    refused("/cancel", {"reason": "too late"}, "status")
    level = shop.stock(mug)
    assert (level["on_hand"], level["reserved"]) == (8, 0)
    whole = shop.post(f"/orders/{oid}/refunds", {"amount": 2975, "reason": "all"})
    assert (whole["payment_status"], whole["refunded_amount"]) == ("refunded", 2975)
    refused("/refunds", {"amount": 1}, "amount")

    # Cancelling a fresh order gives its stock back; cancelling twice is a conflict.
    second = placed_order(shop, method, mug, 3)
    assert shop.stock(mug)["reserved"] == 3
    cancelled = shop.post(f"/orders/{second['id']}/cancel", {"reason": "customer asked"}, 200)
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "customer asked")
    assert shop.stock(mug)["reserved"] == 0
    assert [e["event_type"] for e in cancelled["history"]] == ["placed", "cancelled"]
    assert cancelled["history"][1]["data"] == {"units_released": 3}
    path = f"{shop.base}/orders/{second['id']}"
    refused("/cancel", {}, "status")
    refused("/mark-paid", {}, "status")
    refused(
        "/fulfillments",
        {"items": [{"order_item_id": second["items"][0]["id"], "quantity": 1}]},
        "status",
    )


def test_order_list_sort_and_filters(shop: Shop, method: str) -> None:
    pen = shop.product("Pen", {"USD": 100}, stock=100)
    small = placed_order(shop, method, pen, 1)
    big = placed_order(shop, method, pen, 9)
    listed = shop.get("/orders", sort="-total", limit=200)
    totals = [o["total"] for o in listed["items"]]
    assert totals == sorted(totals, reverse=True) and listed["total"] == len(totals)
    numbers = [o["number"] for o in shop.get("/orders", sort="number", limit=200)["items"]]
    assert numbers == list(range(1, len(numbers) + 1))
    page = shop.get("/orders", sort="number", limit=1, offset=1)
    assert [o["number"] for o in page["items"]] == [2]
    problem(
        shop.http.get(f"{shop.base}/orders", headers=shop.admin, params={"sort": "email"}),
        422,
        "sort",
    )
    problem(
        shop.http.get(f"{shop.base}/orders", headers=shop.admin, params={"status": "lost"}),
        422,
        "status",
    )
    problem(
        shop.http.get(f"{shop.base}/orders", headers=shop.admin, params={"limit": 201}),
        422,
        "limit",
    )
    shop.post(f"/orders/{big['id']}/mark-paid", {}, 200)
    paid = shop.get("/orders", payment_status="paid", limit=200)["items"]
    assert big["id"] in {o["id"] for o in paid} and small["id"] not in {o["id"] for o in paid}
    since = shop.get("/orders", placed_from=small["placed_at"], sort="placed_at")["items"]
    assert [o["id"] for o in since][:2] == [small["id"], big["id"]]
    by_customer = shop.get("/orders", customer_id=small["customer_id"], limit=200)["items"]
    assert small["id"] in {o["id"] for o in by_customer}
    detail = shop.get(f"/orders/{small['id']}")
    assert detail["ip_address"] and detail["user_agent"] == "testclient"
    assert detail["customer_snapshot"]["email"] == "buyer@example.com"
    assert detail["shipping_address"]["city"] == "Berlin"


def test_order_history_is_append_only(client: TestClient, shop: Shop, method: str) -> None:
    cup = shop.product("Cup", {"USD": 100}, stock=10)
    order = placed_order(shop, method, cup, 1)

    async def tamper(statement: str) -> None:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop.id)) as s:
            await s.execute(text(statement), {"id": order["id"]})

    for statement in (
        "UPDATE order_history SET message = 'forged' WHERE order_id = :id",
        "DELETE FROM order_history WHERE order_id = :id",
        "UPDATE payment_transactions SET amount = 0 WHERE order_id = :id",
        "DELETE FROM payment_transactions WHERE order_id = :id",
    ):
        with pytest.raises(DBAPIError) as refused:
            call(client, tamper, statement)
        # Refused for lack of privilege (append-only), not for any other database error.
        assert isinstance(refused.value.orig, psycopg.errors.InsufficientPrivilege), statement
    history = shop.get(f"/orders/{order['id']}/history")["items"]
    assert [(e["event_type"], e["message"]) for e in history] == [
        ("placed", f"Order #{order['number']} placed")
    ]


def test_prices_including_tax(client: TestClient, stores: Stores) -> None:
    shop = Shop(client, stores.create("schema"))
    shop.tax_class("standard", 1900, default=True)
    shop.payment_method()
    ok(
        client.put(
            f"{shop.base}/tax-settings", headers=shop.admin, json={"prices_include_tax": True}
        )
    )
    method = shop.shipping({"USD": 595})
    lamp = shop.product("Lamp", {"USD": 11900})
    shop.discount("TENOFF", kind="fixed", value=1000, currency="USD")
    token = shop.cart()
    shop.add(token, lamp, 1)
    shop.ready(token, "gross@example.com", method, code="TENOFF")
    order = ok(shop.checkout(token), 201)
    # gross 119.00 - 10.00 = 109.00 holds 109.00 - 109.00/1.19 = 17.40 of tax (91.60 net)
    # shipping 5.95 gross holds 0.95; the total adds no tax on top
    assert order["prices_include_tax"] is True
    assert (order["subtotal"], order["discount_total"], order["shipping_total"]) == (
        11900,
        1000,
        595,
    )
    assert order["tax_total"] == 1740 + 95
    assert order["total"] == 11900 - 1000 + 595
    assert order["items"][0]["total_amount"] == 10900 and order["items"][0]["tax_amount"] == 1740
