"""Discounts admin and cart validation: bad input is refused and changes nothing (pool store).

Every refused request is a problem body naming the field, and the store's order, cart,
payment and stock rows are counted before and after to prove nothing was written.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from storefleet.commerce.carts.models import Cart
from tests.commerce.orders.test_checkout_e2e import (
    BERLIN,
    Shop,
    call,
    counts,
    ok,
    problem,
    runtime_of,
)


def expire(client: TestClient, shop: Shop, token: str) -> None:
    async def run() -> None:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop.id)) as s:
            await s.execute(
                update(Cart)
                .where(Cart.token == token)
                .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )

    call(client, run)


def test_discount_admin(client: TestClient, shop: Shop) -> None:
    post = shop.http.post
    bad = [
        ({"kind": "percentage", "value": 10001}, "value"),
        ({"kind": "fixed", "value": 500}, "currency"),
        ({"kind": "fixed", "value": 500, "currency": "JPY"}, "currency"),  # not enabled
        ({"kind": "percentage", "value": 1, "conditions": {"product_ids": [str(uuid.uuid4())]}},
         "conditions.product_ids"),
        ({"kind": "buy_x_get_y"}, "buy_quantity"),
        ({"kind": "percentage", "value": 5, "store_id": shop.id}, "store_id"),
        ({"kind": "percentage", "value": 5, "usage_count": 3}, "usage_count"),
        ({"kind": "percentage", "value": 5, "starts_at": "2030-01-02T00:00:00Z",
          "ends_at": "2030-01-01T00:00:00Z"}, "ends_at"),
    ]  # fmt: skip
    for body, field in bad:
        problem(
            post(f"{shop.base}/discounts", headers=shop.admin, json={"name": "x", **body}),
            422,
            field,
        )
    assert shop.get("/discounts")["total"] == 0

    did = shop.discount(kind="fixed", value=300, currency="USD", usage_limit=10)
    got = shop.get(f"/discounts/{did}")
    assert (got["kind"], got["target"], got["value"], got["usage_count"]) == (
        "fixed",
        "order",
        300,
        0,
    )
    patched = ok(
        client.patch(f"{shop.base}/discounts/{did}", headers=shop.admin, json={"value": 250})
    )
    assert patched["value"] == 250 and patched["currency"] == "USD"
    problem(
        client.patch(
            f"{shop.base}/discounts/{did}",
            headers=shop.admin,
            json={"kind": "percentage", "value": 20000},
        ),
        422,
        "value",
    )
    code = shop.post(f"/discounts/{did}/codes", {"code": "Spring-25"})
    for taken in ("SPRING-25", "spring-25", " Spring-25 "):
        problem(
            post(f"{shop.base}/discounts/{did}/codes", headers=shop.admin, json={"code": taken}),
            409,
            "code",
        )
    problem(
        post(f"{shop.base}/discounts/{did}/codes", headers=shop.admin, json={"code": "a b"}),
        422,
        "code",
    )
    assert [c["code"] for c in shop.get(f"/discounts/{did}/codes")["items"]] == ["Spring-25"]
    assert shop.get(f"/discounts/{did}/redemptions") == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }
    assert (
        client.delete(
            f"{shop.base}/discounts/{did}/codes/{code['id']}", headers=shop.admin
        ).status_code
        == 204
    )
    assert shop.get(f"/discounts/{did}/codes")["items"] == []
    assert client.delete(f"{shop.base}/discounts/{did}", headers=shop.admin).status_code == 204
    problem(client.get(f"{shop.base}/discounts/{did}", headers=shop.admin), 404)
    free = shop.post("/discounts", {"name": "Free", "kind": "free_shipping", "is_automatic": True,
                                    "is_active": False})  # fmt: skip
    assert free["target"] == "shipping"


def test_bad_input_is_refused_and_changes_nothing(
    client: TestClient, shop: Shop, other: Shop, method: str
) -> None:
    shirt = shop.product("Shirt", {"USD": 1000})
    draft = shop.product("Draft", {"USD": 1000}, status="draft")
    unpriced = shop.product("Euro only", {"USD": 1}, stock=5)
    other.tax_class("std", 1000, default=True)
    foreign = other.product("Foreign", {"USD": 700})
    other.discount("THEIRS", kind="percentage", value=5000)
    token = shop.cart()
    shop.add(token, shirt, 1)
    before_cart = ok(shop.cart_call("GET", token))
    before = counts(client, shop.id)

    def refused(method_: str, suffix: str, body: Any, status: int, field: str | None) -> None:
        problem(shop.cart_call(method_, token, suffix, body), status, field)

    refused("POST", "/items", {"variant_id": str(uuid.uuid4()), "quantity": 1}, 422, "variant_id")
    refused("POST", "/items", {"variant_id": foreign["id"], "quantity": 1}, 422, "variant_id")
    refused("POST", "/items", {"variant_id": draft["id"], "quantity": 1}, 422, "variant_id")
    refused("POST", "/items", {"variant_id": shirt["id"], "quantity": -1}, 422, "quantity")
    refused("POST", "/items", {"variant_id": shirt["id"], "quantity": 0}, 422, "quantity")
    refused(
        "POST", "/items", {"variant_id": shirt["id"], "quantity": 1000}, 422, "quantity"
    )  # 1 + 1000
    refused("POST", "/items", {"variant_id": shirt["id"], "unit_amount": 1}, 422, "unit_amount")
    item_id = before_cart["items"][0]["id"]
    refused("PATCH", f"/items/{item_id}", {"quantity": -3}, 422, "quantity")
    refused("PATCH", f"/items/{uuid.uuid4()}", {"quantity": 3}, 404, None)
    refused("POST", "/codes", {"code": "THEIRS"}, 422, "code")
    refused("POST", "/codes", {"code": "NOPE"}, 422, "code")
    for address, field in (
        ({**BERLIN, "country": "Germany"}, "shipping_address.country"),
        ({k: v for k, v in BERLIN.items() if k != "line1"}, "shipping_address.line1"),
        ({**BERLIN, "postal_code": "<script>"}, "shipping_address.postal_code"),
        ({**BERLIN, "store_id": shop.id}, "shipping_address.store_id"),
    ):
        refused(
            "PUT", "/addresses", {"email": "a@example.com", "shipping_address": address}, 422, field
        )
    refused(
        "PUT", "/addresses", {"email": "not-an-email", "shipping_address": BERLIN}, 422, "email"
    )
    refused("PUT", "/shipping-method", {"shipping_method_id": method}, 422, "shipping_method_id")
    refused("POST", "/checkout", {"payment_method_code": "manual"}, 422, "Idempotency-Key")
    problem(shop.checkout(token), 422, "email")
    shop.ready(token, "a@example.com", method)
    problem(
        client.post(
            f"/api/storefront/carts/{token}/checkout",
            headers={**shop.front, "Idempotency-Key": "k" * 201},
            json={"payment_method_code": "manual"},
        ),
        422,
        "Idempotency-Key",
    )
    problem(
        client.post(
            f"/api/storefront/carts/{token}/checkout",
            headers={**shop.front, "Idempotency-Key": "bad-method"},
            json={"payment_method_code": "bitcoin"},
        ),
        422,
        "payment_method_code",
    )
    for currency, field in (("JPY", "currency"), ("XXX", "currency")):  # disabled, unknown
        problem(
            client.post("/api/storefront/carts", headers=shop.front, json={"currency": currency}),
            422,
            field,
        )
    # A variant priced only in USD cannot go into a EUR cart.
    shop.enable("EUR")
    eur = shop.cart("EUR")
    problem(
        shop.cart_call("POST", eur, "/items", {"variant_id": unpriced["id"], "quantity": 1}),
        422,
        "variant_id",
    )
    problem(shop.cart_call("GET", "x" * 43), 404)

    # An expired cart refuses every change and checkout.
    expire(client, shop, token)
    for method_, suffix, body in (
        ("POST", "/items", {"variant_id": shirt["id"], "quantity": 1}),
        ("PATCH", f"/items/{item_id}", {"quantity": 5}),
        ("DELETE", f"/items/{item_id}", None),
        ("PUT", "/addresses", {"email": "b@example.com", "shipping_address": BERLIN}),
    ):
        body_ = problem(shop.cart_call(method_, token, suffix, body), 409, "token")
        assert body_["detail"] == "This cart has expired"
    problem(shop.checkout(token), 409, "token")
    after_cart = ok(shop.cart_call("GET", token))
    assert after_cart["status"] == "expired"
    lines = [(i["id"], i["variant_id"], i["quantity"]) for i in after_cart["items"]]
    assert lines == [(i["id"], i["variant_id"], i["quantity"]) for i in before_cart["items"]]
    assert after_cart["email"] == "a@example.com"
    assert counts(client, shop.id) == before
