"""Catalog → cart → discount → shipping → tax → checkout → paid → fulfilled → refunded.

Run in every placement. A guest buys in USD (2 decimals) and BHD (3 decimals), a registered
customer buys in JPY (0 decimals); every total is asserted to the minor unit against the
arithmetic written out in the comments. ``Shop`` and the helpers here are shared by the
other checkout and order test modules.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from storefleet.commerce import models as m
from storefleet.runtime import Runtime
from storefleet.testing import PLACEMENTS, Stores, bearer, unique_name

T = TypeVar("T")
PROBLEM = "application/problem+json"
PASSWORD = "Cust0mer-Secret!"
BERLIN = {
    "first_name": "Erika",
    "last_name": "Muster",
    "line1": "Hauptstr. 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
COUNTED = (m.Order, m.OrderItem, m.OrderEvent, m.PaymentTransaction, m.CartItem,
           m.DiscountRedemption, m.InventoryReservation)  # fmt: skip


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def call(client: TestClient, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run a coroutine on the app's event loop (its engines live there)."""
    return client.portal.call(functools.partial(fn, *args, **kwargs))  # type: ignore[union-attr]


def problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


class Shop:
    """One store driven through its admin and storefront APIs."""

    def __init__(self, http: TestClient | httpx.Client, store: dict[str, Any]) -> None:
        self.http = http
        self.id = str(store["id"])
        self.admin = dict(store["headers"])
        self.base = f"/api/stores/{self.id}"
        self.front = {"X-Store-Id": self.id}

    def using(self, http: TestClient | httpx.Client) -> Shop:
        """The same store through another connection (one per concurrent buyer)."""
        copy = Shop.__new__(Shop)
        copy.__dict__.update(self.__dict__)
        copy.http = http
        return copy

    # -- admin ----------------------------------------------------------------------
    def post(self, path: str, body: Any, status: int = 201) -> Any:
        return ok(self.http.post(self.base + path, headers=self.admin, json=body), status)

    def get(self, path: str, **params: Any) -> Any:
        return ok(self.http.get(self.base + path, headers=self.admin, params=params))

    def enable(self, *codes: str) -> None:
        for code in codes:
            ok(
                self.http.put(
                    f"{self.base}/currencies/{code}", headers=self.admin, json={"is_enabled": True}
                )
            )

    def tax_class(self, code: str, rate_bp: int, *, default: bool = False) -> str:
        created = self.post("/tax-classes", {"name": code, "code": code, "is_default": default})
        self.post(f"/tax-classes/{created['id']}/rules", {"country": "DE", "rate_bp": rate_bp})
        return str(created["id"])

    def shipping(self, rates: dict[str, int], countries: tuple[str, ...] = ("DE",)) -> str:
        zone = self.post("/shipping-zones", {"name": unique_name("z"), "countries": countries})
        method = self.post(
            f"/shipping-zones/{zone['id']}/methods", {"name": "Standard", "code": "standard"}
        )
        for currency, amount in rates.items():
            self.post(
                f"/shipping-methods/{method['id']}/rates",
                {"kind": "flat", "currency": currency, "amount": amount},
            )
        return str(method["id"])

    def payment_method(self, code: str = "manual") -> None:
        self.post("/payment-methods", {"code": code, "provider": "manual", "name": "Pay later"})

    def product(
        self,
        name: str,
        prices: dict[str, int],
        *,
        stock: int = 50,
        tax_class_id: str | None = None,
        weight: int = 100,
        **extra: Any,
    ) -> dict[str, Any]:
        """An active, published product with one variant; returns the variant."""
        sku = unique_name("sku").upper()
        body = {
            "name": name,
            "status": "active",
            "published": True,
            "tax_class_id": tax_class_id,
            "variants": [
                {
                    "title": "Default",
                    "sku": sku,
                    "weight_grams": weight,
                    "prices": [{"currency": c, "amount": a} for c, a in prices.items()],
                    "stock": [{"location_code": "main", "on_hand": stock}],
                }
            ],
            **extra,
        }
        created = self.post("/products", body)
        variant: dict[str, Any] = created["variants"][0]
        variant["product_id"] = created["id"]
        return variant

    def discount(
        self, code: str | None = None, code_limit: int | None = None, **fields: Any
    ) -> str:
        created = self.post("/discounts", {"name": unique_name("d"), **fields})
        if code:
            self.post(
                f"/discounts/{created['id']}/codes", {"code": code, "usage_limit": code_limit}
            )
        return str(created["id"])

    def stock(self, variant: dict[str, Any]) -> dict[str, int]:
        product = self.get(f"/products/{variant['product_id']}")
        (found,) = [v for v in product["variants"] if v["id"] == variant["id"]]
        level: dict[str, int] = found["stock"][0]
        return level

    # -- storefront -------------------------------------------------------------------
    def cart(self, currency: str | None = None, headers: dict[str, str] | None = None) -> str:
        body = {"currency": currency} if currency else {}
        created = ok(
            self.http.post(
                "/api/storefront/carts", headers={**self.front, **(headers or {})}, json=body
            ),
            201,
        )
        token: str = created["token"]
        return token

    def cart_call(
        self, method: str, token: str, suffix: str = "", body: Any = None, **headers: str
    ) -> httpx.Response:
        return self.http.request(
            method,
            f"/api/storefront/carts/{token}{suffix}",
            headers={**self.front, **headers},
            json=body,
        )

    def add(self, token: str, variant: dict[str, Any], quantity: int = 1) -> Any:
        body = {"variant_id": variant["id"], "quantity": quantity}
        return ok(self.cart_call("POST", token, "/items", body), 201)

    def ready(
        self,
        token: str,
        email: str,
        method_id: str,
        code: str | None = None,
    ) -> Any:
        """Address, code and shipping method: everything a checkout needs."""
        ok(self.cart_call("PUT", token, "/addresses", {"email": email, "shipping_address": BERLIN}))
        if code:
            ok(self.cart_call("POST", token, "/codes", {"code": code}))
        return ok(
            self.cart_call("PUT", token, "/shipping-method", {"shipping_method_id": method_id})
        )

    def checkout(
        self, token: str, key: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self.http.post(
            f"/api/storefront/carts/{token}/checkout",
            headers={
                **self.front,
                **(headers or {}),
                "Idempotency-Key": key or unique_name("idem"),
            },
            json={"payment_method_code": "manual"},
        )

    def register(self) -> tuple[dict[str, str], str]:
        """A new customer account, signed in (sign-up itself hands out no token)."""
        email = f"{unique_name('buyer')}@example.com"
        ok(
            self.http.post(
                "/api/storefront/customers/register",
                headers=self.front,
                json={"email": email, "password": PASSWORD, "first_name": "Reg"},
            ),
            201,
        )
        body = ok(
            self.http.post(
                "/api/storefront/customers/login",
                headers=self.front,
                json={"email": email, "password": PASSWORD},
            )
        )
        return bearer(body["token"]), str(body["customer"]["id"])


def counts(client: TestClient, store_id: str) -> dict[str, int]:
    """Row counts of every table a checkout or an order operation writes."""

    async def run() -> dict[str, int]:
        async with runtime_of(client).tenancy.session(uuid.UUID(store_id), write=False) as s:
            out = {}
            for model in COUNTED:
                out[model.__tablename__] = int(
                    await s.scalar(select(func.count()).select_from(model)) or 0
                )
            return out

    return call(client, run)


@pytest.fixture(scope="module")
def shops(client: TestClient, stores: Stores) -> Iterator[dict[str, Shop]]:
    yield {p: Shop(client, stores.create(p)) for p in PLACEMENTS}


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_guest_and_customer_buy_then_pay_fulfil_refund(
    client: TestClient, shops: dict[str, Shop], placement: str
) -> None:
    shop = shops[placement]
    shop.enable("JPY", "BHD")
    standard = shop.tax_class("standard", 1900, default=True)  # 19 % in DE
    reduced = shop.tax_class("reduced", 700)  # 7 % in DE
    method = shop.shipping({"USD": 499, "JPY": 800, "BHD": 1500})
    shop.payment_method()
    shirt = shop.product(
        "Shirt", {"USD": 1999, "JPY": 2980, "BHD": 7525}, tax_class_id=standard, weight=200
    )
    book = shop.product("Book", {"USD": 1250, "JPY": 1500, "BHD": 4333}, tax_class_id=reduced)
    discount_id = shop.discount("SAVE10", kind="percentage", value=1000)  # 10 % off the order

    # -- guest, USD -----------------------------------------------------------------------
    token = shop.cart("USD")
    shop.add(token, shirt, 2)
    shop.add(token, book, 1)
    cart = shop.ready(token, "guest@example.com", method, code="save10")  # any case
    # subtotal 2 x 19.99 + 12.50 = 52.48                                     → 5248
    # 10 % of 5248 = 524.8 → 525, split by line weight 3998 : 1250 (largest remainder):
    #   3998*525/5248 = 399.95 → 400 ; 1250*525/5248 = 125.05 → 125        → 400 + 125
    # shirt tax 19 % of (3998 - 400 = 3598) = 683.62 → 684
    # book tax 7 % of (1250 - 125 = 1125) = 78.75 → 79
    # shipping 499, its tax 19 % = 94.81 → 95
    # tax 684 + 79 + 95 = 858; total 5248 - 525 + 499 + 858 = 6080
    expected = {"subtotal": 5248, "discount_total": 525, "shipping_total": 499,
                "tax_total": 858, "total": 6080}  # fmt: skip
    assert {k: cart[k] for k in expected} == expected
    assert [(i["discount_amount"], i["tax_amount"]) for i in cart["items"]] == [
        (400, 684),
        (125, 79),
    ]
    assert cart["codes"] == ["SAVE10"]
    placed = shop.checkout(token, key="guest-usd")
    order = ok(placed, 201)
    assert {k: order[k] for k in expected} == expected
    assert order["currency"] == "USD" and order["email"] == "guest@example.com"
    assert order["discount_codes"] == ["SAVE10"]
    assert [
        (i["sku"], i["quantity"], i["unit_amount"], i["total_amount"]) for i in order["items"]
    ] == [
        (shirt["sku"], 2, 1999, 3598 + 684),
        (book["sku"], 1, 1250, 1125 + 79),
    ]
    assert [i["tax_rate_bp"] for i in order["items"]] == [1900, 700]
    assert order["shipping_method"]["amount"] == 499
    guest_order = order

    # -- registered customer, JPY ---------------------------------------------------------
    customer, customer_id = shop.register()
    token = shop.cart("JPY", headers=customer)
    shop.add(token, shirt, 3)
    cart = shop.ready(token, "typed@example.com", method, code="SAVE10")
    # subtotal 3 x ¥2980 = 8940; 10 % = 894; shirt tax 19 % of 8046 = 1528.74 → 1529
    # shipping ¥800, tax 152; tax 1529 + 152 = 1681; total 8940 - 894 + 800 + 1681 = 10527
    expected = {"subtotal": 8940, "discount_total": 894, "shipping_total": 800,
                "tax_total": 1681, "total": 10527}  # fmt: skip
    assert {k: cart[k] for k in expected} == expected
    order = ok(shop.checkout(token, headers=customer), 201)
    assert {k: order[k] for k in expected} == expected
    assert order["customer_id"] == customer_id and order["currency"] == "JPY"
    assert order["email"] != "typed@example.com"  # an account buys as itself
    own = ok(client.get("/api/storefront/customers/me/orders", headers={**shop.front, **customer}))
    assert [o["id"] for o in own["items"]] == [order["id"]]

    # -- guest, BHD (3 decimals) ---------------------------------------------------------
    token = shop.cart("BHD")
    shop.add(token, shirt, 1)
    shop.add(token, book, 2)
    shop.ready(token, "guest@example.com", method, code="SAVE10")
    # subtotal 7.525 + 2 x 4.333 = 16.191                                    → 16191
    # 10 % = 1619.1 → 1619, split 7525 : 8666:
    #   7525*1619/16191 = 752.45 (rem 7343) ; 8666*1619/16191 = 866.55 (rem 8848)
    #   floors 752 + 866 = 1618, the larger remainder gets the last unit     → 752 + 867
    # shirt tax 19 % of 6773 = 1286.87 → 1287; book tax 7 % of 7799 = 545.93 → 546
    # shipping 1.500, tax 285; tax 1287 + 546 + 285 = 2118
    # total 16191 - 1619 + 1500 + 2118 = 18190
    order = ok(shop.checkout(token), 201)
    assert {k: order[k] for k in ("subtotal", "discount_total", "shipping_total", "tax_total",
                                  "total")} == {"subtotal": 16191, "discount_total": 1619,
                                                "shipping_total": 1500, "tax_total": 2118,
                                                "total": 18190}  # fmt: skip
    assert [i["discount_amount"] for i in order["items"]] == [752, 867]
    assert [o["number"] for o in shop.get("/orders", sort="number")["items"]] == [1, 2, 3]
    redemptions = shop.get(f"/discounts/{discount_id}/redemptions")
    assert redemptions["total"] == 3
    assert sorted(r["amount"] for r in redemptions["items"]) == [525, 894, 1619]
    # Both guest orders belong to one guest customer record.
    orders = shop.get("/orders", email="guest@example.com")["items"]
    assert len(orders) == 2 and len({o["customer_id"] for o in orders}) == 1

    # -- the USD guest order: paid → partly fulfilled → partly refunded ------------------
    oid = guest_order["id"]
    shirt_line, book_line = (i["id"] for i in guest_order["items"])
    level = shop.stock(shirt)
    assert (level["on_hand"], level["reserved"]) == (50, 2 + 3 + 1)  # three orders hold six
    paid = shop.post(f"/orders/{oid}/mark-paid", {"reference": "bank-123"}, 200)
    assert (paid["payment_status"], paid["paid_amount"], paid["status"]) == (
        "paid",
        6080,
        "confirmed",
    )
    shipped = shop.post(
        f"/orders/{oid}/fulfillments",
        {"items": [{"order_item_id": shirt_line, "quantity": 1}], "carrier": "DHL"},
    )
    assert shipped["fulfillment_status"] == "partially_fulfilled"
    assert [i["quantity_fulfilled"] for i in shipped["items"]] == [1, 0]
    assert shop.stock(shirt)["on_hand"] == 49 and shop.stock(shirt)["reserved"] == 5
    refunded = shop.post(
        f"/orders/{oid}/refunds",
        {
            "amount": 2000,
            "reason": "wrong size",
            "items": [{"order_item_id": shirt_line, "quantity": 1}],
            "restock": True,
        },
    )
    assert (refunded["payment_status"], refunded["refunded_amount"]) == ("partially_refunded", 2000)
    assert refunded["fulfillment_status"] == "partially_returned"
    assert shop.stock(shirt)["on_hand"] == 50  # restocked
    assert book_line in {i["id"] for i in refunded["items"]}
    kinds = [(t["kind"], t["status"], t["amount"]) for t in refunded["transactions"]]
    assert kinds == [("authorize", "pending", 6080), ("capture", "succeeded", 6080),
                     ("refund", "succeeded", 2000)]  # fmt: skip
    history = shop.get(f"/orders/{oid}/history")["items"]
    assert [e["event_type"] for e in history] == [
        "placed",
        "payment_captured",
        "partially_fulfilled",
        "refunded",
    ]
    assert history[1]["actor"].startswith("owner:")
    assert history == refunded["history"]
