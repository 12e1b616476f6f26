"""The role matrix's world: two stores with an owner, an admin and a staff member each.

Store A holds one of everything an admin route can name, and for each caller one more of
everything a route deletes or moves on (an order to cancel, a product to delete), so every
route can be called by every role with a body and ids that would succeed. ``ROUTES``
lists every admin route with the permission it must require; ``test_role_matrix.py`` checks
that the app has exactly these routes and that each role gets what the table says.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
from fastapi.testclient import TestClient
from psycopg import sql

from storefleet.commerce.users.permissions import Permission as P
from storefleet.control.placements.store_files import store_location
from storefleet.tenancy.datacopy import connect, store_stats
from storefleet.testing import Stores, unique_name
from tests.commerce.orders.test_checkout_e2e import BERLIN, Shop, call, ok, runtime_of
from tests.isolation.attack import STAFF_PASSWORD, staff_login

ROLES = ("staff", "admin", "owner")
OTHER_PLACEMENT = {"pool": "schema", "schema": "pool", "database": "pool"}
SERVICE = "roles.probe"
# Control-plane tables with a store's rows (``stores`` keyed by ``id``); usage logs are left
# out: every request, refused or not, is metered.
CONTROL_TABLES = (
    "stores", "store_databases", "store_hostnames", "store_moves", "subscriptions",
    "credit_balances", "credit_transactions", "credit_outbox", "store_payment_credentials",
    "billing_transactions",
)  # fmt: skip
DEFAULT_IDS = {
    "product_id": "product", "category_id": "category", "location_id": "location",
    "customer_id": "customer", "address_id": "address", "class_id": "tax_class",
    "zone_id": "zone", "discount_id": "discount", "code": "currency",
}  # fmt: skip

Body = Callable[["World", str], Any] | Mapping[str, Any] | None


def unique(tag: str) -> str:
    return unique_name(tag).replace("_", "-")


@dataclass
class Member:
    role: str
    headers: dict[str, str]


@dataclass
class World:
    client: TestClient
    placement: str
    a: Shop
    b_members: list[Member]
    members: dict[str, Member]
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def store_id(self) -> str:
        return self.a.id

    def as_(self, role: str) -> dict[str, str]:
        return self.members[role].headers

    def order(self, *, paid: bool = False) -> dict[str, Any]:
        """A placed order of one line (two units); marked paid by the owner when asked."""
        token = self.a.cart()
        self.a.add(token, {"id": self.ids["variant"]}, 2)
        self.a.ready(token, "buyer@example.com", self.ids["checkout_method"])
        order: dict[str, Any] = ok(self.a.checkout(token), 201)
        if paid:
            order = self.a.post(f"/orders/{order['id']}/mark-paid", {}, 200)
        return order

    def fingerprint(self, conn: psycopg.Connection) -> dict[str, Any]:
        """Every row of store A, tenant and control plane, and the audit log's length."""
        store_id = uuid.UUID(self.store_id)

        async def tenant() -> dict[str, Any]:
            location = await store_location(runtime_of(self.client), store_id)
            async with await connect(location.admin_url) as c:
                return dict(await store_stats(c, location, store_id))

        out: dict[str, Any] = {"tenant": call(self.client, tenant)}
        for table in CONTROL_TABLES:
            key = "id" if table == "stores" else "store_id"
            out[table] = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), ''))"
                    " FROM {} t WHERE {} = %s"
                ).format(sql.Identifier(table), sql.Identifier(key)),
                (self.store_id,),
            ).fetchone()
        out["audit_log"] = conn.execute("SELECT count(*) FROM audit_log").fetchone()
        return out


def add_member(client: TestClient, store: dict[str, Any], role: str) -> Member:
    email = f"{role}-{unique('m')}@example.com"
    body = {"email": email, "first_name": "Sam", "last_name": role, "role": role,
            "password": STAFF_PASSWORD}  # fmt: skip
    ok(client.post(f"/api/stores/{store['id']}/staff", headers=store["headers"], json=body), 201)
    return Member(role, staff_login(client, str(store["id"]), email))


def members_of(client: TestClient, store: dict[str, Any]) -> dict[str, Member]:
    return {
        "owner": Member("owner", dict(store["headers"])),
        "admin": add_member(client, store, "admin"),
        "staff": add_member(client, store, "staff"),
    }


def build(client: TestClient, stores: Stores, placement: str) -> World:
    store_a, store_b = stores.create(placement), stores.create(placement)
    shop = Shop(client, store_a)
    world = World(
        client,
        placement,
        shop,
        list(members_of(client, store_b).values()),
        members_of(client, store_a),
    )
    ids = world.ids

    def new(key: str, path: str, body: dict[str, Any]) -> None:
        ids[key] = str(shop.post(path, body)["id"])

    shop.tax_class("standard", 1900, default=True)
    shop.payment_method()
    ids["checkout_method"] = shop.shipping({"USD": 500})
    variant = shop.product("Thing", {"USD": 1000})
    ids["variant"], ids["product"] = str(variant["id"]), str(variant["product_id"])
    ids["location"] = str(shop.get("/inventory/locations")["items"][0]["id"])
    ids["currency"] = "EUR"
    new("category", "/categories", {"name": unique("category")})
    new("price_rule", "/price-rules", {"name": "Rule", "kind": "sale", "percent_off_bp": 1000,
                                       "is_active": False})  # fmt: skip
    new("customer", "/customers", {"email": f"{unique('customer')}@example.com"})
    new("address", f"/customers/{ids['customer']}/addresses", BERLIN)
    new("tax_class", "/tax-classes", {"name": "Reduced", "code": "reduced"})
    new("tax_rule", f"/tax-classes/{ids['tax_class']}/rules", {"country": "FR", "rate_bp": 550})
    new("zone", "/shipping-zones", {"name": unique("zone"), "countries": ["FR"]})
    new("shipping_method", f"/shipping-zones/{ids['zone']}/methods",
        {"name": "Standard", "code": unique("m")})  # fmt: skip
    new("rate", f"/shipping-methods/{ids['shipping_method']}/rates",
        {"currency": "USD", "amount": 700})  # fmt: skip
    new("payment_method", "/payment-methods", {"code": unique("pm"), "provider": "bank_transfer",
                                               "name": "Bank"})  # fmt: skip
    new("discount", "/discounts", {"name": "Off", "kind": "percentage", "value": 1000,
                                   "is_active": False})  # fmt: skip
    new("hostname", "/hostnames", {"hostname": f"{unique('h')}.roles.example"})
    for role in ROLES:  # one of each thing a route ends or moves on, per caller
        ids[f"product@{role}"] = str(shop.product("Spare", {"USD": 100})["product_id"])
        new(f"category@{role}", "/categories", {"name": unique("spare")})
        new(f"price_rule@{role}", "/price-rules", {"name": "Spare", "is_active": False})
        new(f"customer@{role}", "/customers", {"email": f"{unique('spare')}@example.com"})
        new(f"address@{role}", f"/customers/{ids['customer']}/addresses", BERLIN)
        new(f"tax_class@{role}", "/tax-classes", {"name": "Spare", "code": unique("spare")})
        new(f"tax_rule@{role}", f"/tax-classes/{ids['tax_class']}/rules",
            {"country": "IT", "rate_bp": 400})  # fmt: skip
        new(f"zone@{role}", "/shipping-zones", {"name": unique("spare"), "countries": ["IT"]})
        new(f"shipping_method@{role}", f"/shipping-zones/{ids['zone']}/methods",
            {"name": "Spare", "code": unique("m")})  # fmt: skip
        new(f"rate@{role}", f"/shipping-methods/{ids['shipping_method']}/rates",
            {"currency": "USD", "amount": 900})  # fmt: skip
        new(f"payment_method@{role}", "/payment-methods",
            {"code": unique("pm"), "provider": "manual", "name": "Spare"})  # fmt: skip
        new(f"discount@{role}", "/discounts", {"name": "Spare", "kind": "percentage",
                                               "value": 100, "is_active": False})  # fmt: skip
        new(f"code@{role}", f"/discounts/{ids['discount']}/codes", {"code": unique("C").upper()})
        new(f"staff@{role}", "/staff", {"email": f"{unique('spare')}@example.com",
                                        "first_name": "Spare", "last_name": "Staff",
                                        "role": "staff", "password": STAFF_PASSWORD})  # fmt: skip
        new(f"hostname@{role}", "/hostnames", {"hostname": f"{unique('h')}.roles.example"})
        for key in ("order_fulfil", "order_cancel", "order_pay"):
            ids[f"{key}@{role}"] = world.order()["id"]
        ids[f"line@{role}"] = shop.get(f"/orders/{ids[f'order_fulfil@{role}']}")["items"][0]["id"]
    ids["order_refund"] = str(world.order(paid=True)["id"])
    return world


@dataclass(frozen=True)
class Route:
    """One admin route: its permission, its ids, a body that would work, and its answer."""

    method: str
    path: str  # after /api/stores/{store_id}
    permission: P
    expect: int  # what every caller holding the permission gets
    ids: Mapping[str, str]
    body: Body = None
    probe: Body = None  # sent by allowed callers instead of ``body`` (it would do harm)

    @property
    def template(self) -> str:
        return f"/api/stores/{{store_id}}{self.path}"

    def url(self, world: World, role: str) -> str:
        """Ids named ``key@`` are the caller's own (a row this route deletes or moves on)."""
        names = {**DEFAULT_IDS, **self.ids}
        values = {
            k: world.ids[v + role if v.endswith("@") else v]
            for k, v in names.items()
            if "{" + k + "}" in self.path
        }
        return f"/api/stores/{world.store_id}{self.path.format(**values)}"

    def request(self, world: World, role: str, *, allowed: bool) -> tuple[str, str, Any]:
        body = self.probe if allowed and self.probe is not None else self.body
        return self.method, self.url(world, role), body(world, role) if callable(body) else body


def r(method: str, path: str, permission: P, expect: int, body: Body = None,
      probe: Body = None, **ids: str) -> Route:  # fmt: skip
    return Route(method, path, permission, expect, ids, body, probe)


def send(world: World, request: tuple[str, str, Any], headers: dict[str, str]) -> httpx.Response:
    method, path, body = request
    return world.client.request(method, path, headers=headers, json=body)


def _staff(_: World, __: str) -> dict[str, Any]:
    return {"email": f"{unique('new')}@example.com", "first_name": "New", "last_name": "Staff",
            "role": "staff", "password": STAFF_PASSWORD}  # fmt: skip


def _product(_: World, __: str) -> dict[str, Any]:
    return {"name": "Made", "variants": [{"title": "One", "sku": unique("SKU").upper(),
            "prices": [{"currency": "USD", "amount": 500}]}]}  # fmt: skip


ROUTES: tuple[Route, ...] = (
    r("PATCH", "", P.STORE_MANAGE, 200, lambda w, _: {"name": f"Renamed {unique('n')}"}),
    r("POST", "/provision", P.STORE_MANAGE, 200),
    r("POST", "/credits/spend", P.CREDITS_SPEND, 200,
      lambda w, _: {"service": SERVICE, "idempotency_key": unique("k")}),
    r("GET", "/credits", P.BILLING_VIEW, 200),
    r("GET", "/credits/transactions", P.BILLING_VIEW, 200),
    r("GET", "/subscription", P.BILLING_VIEW, 200),
    r("POST", "/subscription", P.SUBSCRIPTION_MANAGE, 200,
      {"plan": "free", "billing_cycle": "annual"}),
    r("PUT", "/stripe-keys", P.STRIPE_KEYS_MANAGE, 200,
      {"secret_key": "sk_test_roles", "publishable_key": "pk_test_roles"}),
    r("GET", "/stripe-keys", P.STRIPE_KEYS_MANAGE, 200),
    r("DELETE", "/stripe-keys", P.STRIPE_KEYS_MANAGE, 204),
    r("GET", "/usage", P.BILLING_VIEW, 200),
    r("POST", "/move", P.PLACEMENT_MANAGE, 409,
      lambda w, _: {"placement": OTHER_PLACEMENT[w.placement]},
      probe=lambda w, _: {"placement": w.placement}),
    r("POST", "/connect-database", P.PLACEMENT_MANAGE, 422,
      {"database_url": "postgresql://u:p@db.example.com:5432/postgres"},
      probe={"database_url": "not a database url"}),
    r("GET", "/hostnames", P.HOSTNAMES_MANAGE, 200),
    r("POST", "/hostnames", P.HOSTNAMES_MANAGE, 201,
      lambda w, _: {"hostname": f"{unique('h')}.roles.example"}),
    r("POST", "/hostnames/{hostname_id}/verify", P.HOSTNAMES_MANAGE, 200,
      hostname_id="hostname"),
    r("PATCH", "/hostnames/{hostname_id}", P.HOSTNAMES_MANAGE, 200, {"primary": True},
      hostname_id="hostname"),
    r("DELETE", "/hostnames/{hostname_id}", P.HOSTNAMES_MANAGE, 204, hostname_id="hostname@"),
    r("GET", "/profile", P.STORE_VIEW, 200),
    r("PATCH", "/profile", P.SETTINGS_MANAGE, 200, {"description": "Changed"}),
    r("PATCH", "/config", P.SETTINGS_MANAGE, 200, {"theme": {"accent": "teal"}}),
    r("GET", "/staff", P.STAFF_VIEW, 200),
    r("POST", "/staff", P.STAFF_MANAGE, 201, _staff),
    r("DELETE", "/staff/{user_id}", P.STAFF_MANAGE, 204, user_id="staff@"),
    r("POST", "/products", P.CATALOG_MANAGE, 201, _product),
    r("GET", "/products", P.CATALOG_MANAGE, 200),
    r("GET", "/products/{product_id}", P.CATALOG_MANAGE, 200),
    r("PATCH", "/products/{product_id}", P.CATALOG_MANAGE, 200, {"vendor": "Acme"}),
    r("DELETE", "/products/{product_id}", P.CATALOG_MANAGE, 204, product_id="product@"),
    r("GET", "/categories", P.CATALOG_MANAGE, 200),
    r("POST", "/categories", P.CATALOG_MANAGE, 201, lambda w, _: {"name": unique("cat")}),
    r("GET", "/categories/{category_id}", P.CATALOG_MANAGE, 200),
    r("PATCH", "/categories/{category_id}", P.CATALOG_MANAGE, 200, {"description": "New"}),
    r("DELETE", "/categories/{category_id}", P.CATALOG_MANAGE, 204,
      category_id="category@"),
    r("PUT", "/categories/{category_id}/products", P.CATALOG_MANAGE, 200,
      lambda w, _: {"product_ids": [w.ids["product"]]}),
    r("GET", "/price-rules", P.PRICING_VIEW, 200),
    r("POST", "/price-rules", P.PRICING_MANAGE, 201,
      {"name": "Sale", "kind": "sale", "percent_off_bp": 500, "is_active": False}),
    r("GET", "/price-rules/{rule_id}", P.PRICING_VIEW, 200, rule_id="price_rule"),
    r("PATCH", "/price-rules/{rule_id}", P.PRICING_MANAGE, 200, {"priority": 3},
      rule_id="price_rule"),
    r("DELETE", "/price-rules/{rule_id}", P.PRICING_MANAGE, 204, rule_id="price_rule@"),
    r("GET", "/currencies", P.PRICING_VIEW, 200),
    r("PUT", "/currencies/{code}", P.PRICING_MANAGE, 200, {"is_enabled": True}),
    r("GET", "/inventory/locations", P.INVENTORY_MANAGE, 200),
    r("POST", "/inventory/locations", P.INVENTORY_MANAGE, 201,
      lambda w, _: {"name": "Back room", "code": unique("loc")}),
    r("GET", "/inventory/locations/{location_id}", P.INVENTORY_MANAGE, 200),
    r("PATCH", "/inventory/locations/{location_id}", P.INVENTORY_MANAGE, 200,
      {"name": "Main store"}),
    r("GET", "/inventory", P.INVENTORY_MANAGE, 200),
    r("POST", "/inventory/adjustments", P.INVENTORY_MANAGE, 201,
      lambda w, _: {"variant_id": w.ids["variant"], "location_id": w.ids["location"], "delta": 5,
                 "reason": "received"}),
    r("GET", "/inventory/adjustments", P.INVENTORY_MANAGE, 200),
    r("GET", "/customers", P.CUSTOMERS_MANAGE, 200),
    r("POST", "/customers", P.CUSTOMERS_MANAGE, 201,
      lambda w, _: {"email": f"{unique('c')}@example.com"}),
    r("GET", "/customers/{customer_id}", P.CUSTOMERS_MANAGE, 200),
    r("PATCH", "/customers/{customer_id}", P.CUSTOMERS_MANAGE, 200, {"notes": "Called"}),
    r("DELETE", "/customers/{customer_id}", P.CUSTOMERS_MANAGE, 204,
      customer_id="customer@"),
    r("GET", "/customers/{customer_id}/addresses", P.CUSTOMERS_MANAGE, 200),
    r("POST", "/customers/{customer_id}/addresses", P.CUSTOMERS_MANAGE, 201, BERLIN),
    r("PATCH", "/customers/{customer_id}/addresses/{address_id}", P.CUSTOMERS_MANAGE, 200,
      {"city": "Hamburg"}),
    r("DELETE", "/customers/{customer_id}/addresses/{address_id}", P.CUSTOMERS_MANAGE, 204,
      address_id="address@"),
    r("GET", "/tax-settings", P.TAX_SHIPPING_VIEW, 200),
    r("PUT", "/tax-settings", P.TAX_SHIPPING_MANAGE, 200, {"prices_include_tax": False}),
    r("GET", "/tax-classes", P.TAX_SHIPPING_VIEW, 200),
    r("POST", "/tax-classes", P.TAX_SHIPPING_MANAGE, 201,
      lambda w, _: {"name": "Zero", "code": unique("zero")}),
    r("GET", "/tax-classes/{class_id}", P.TAX_SHIPPING_VIEW, 200),
    r("PATCH", "/tax-classes/{class_id}", P.TAX_SHIPPING_MANAGE, 200, {"description": "Cut"}),
    r("DELETE", "/tax-classes/{class_id}", P.TAX_SHIPPING_MANAGE, 204,
      class_id="tax_class@"),
    r("GET", "/tax-classes/{class_id}/rules", P.TAX_SHIPPING_VIEW, 200),
    r("POST", "/tax-classes/{class_id}/rules", P.TAX_SHIPPING_MANAGE, 201,
      {"country": "AT", "rate_bp": 1000}),
    r("PATCH", "/tax-classes/{class_id}/rules/{rule_id}", P.TAX_SHIPPING_MANAGE, 200,
      {"priority": 2}, rule_id="tax_rule"),
    r("DELETE", "/tax-classes/{class_id}/rules/{rule_id}", P.TAX_SHIPPING_MANAGE, 204,
      rule_id="tax_rule@"),
    r("GET", "/shipping-zones", P.TAX_SHIPPING_VIEW, 200),
    r("POST", "/shipping-zones", P.TAX_SHIPPING_MANAGE, 201,
      lambda w, _: {"name": unique("zone"), "countries": ["AT"]}),
    r("GET", "/shipping-zones/{zone_id}", P.TAX_SHIPPING_VIEW, 200),
    r("PATCH", "/shipping-zones/{zone_id}", P.TAX_SHIPPING_MANAGE, 200, {"position": 4}),
    r("DELETE", "/shipping-zones/{zone_id}", P.TAX_SHIPPING_MANAGE, 204, zone_id="zone@"),
    r("GET", "/shipping-zones/{zone_id}/methods", P.TAX_SHIPPING_VIEW, 200),
    r("POST", "/shipping-zones/{zone_id}/methods", P.TAX_SHIPPING_MANAGE, 201,
      lambda w, _: {"name": "Express", "code": unique("x")}),
    r("GET", "/shipping-methods/{method_id}", P.TAX_SHIPPING_VIEW, 200,
      method_id="shipping_method"),
    r("PATCH", "/shipping-methods/{method_id}", P.TAX_SHIPPING_MANAGE, 200,
      {"description": "Slow"}, method_id="shipping_method"),
    r("DELETE", "/shipping-methods/{method_id}", P.TAX_SHIPPING_MANAGE, 204,
      method_id="shipping_method@"),
    r("GET", "/shipping-methods/{method_id}/rates", P.TAX_SHIPPING_VIEW, 200,
      method_id="shipping_method"),
    r("POST", "/shipping-methods/{method_id}/rates", P.TAX_SHIPPING_MANAGE, 201,
      {"currency": "USD", "amount": 900}, method_id="shipping_method"),
    r("PATCH", "/shipping-methods/{method_id}/rates/{rate_id}", P.TAX_SHIPPING_MANAGE, 200,
      {"amount": 800}, method_id="shipping_method", rate_id="rate"),
    r("DELETE", "/shipping-methods/{method_id}/rates/{rate_id}", P.TAX_SHIPPING_MANAGE, 204,
      method_id="shipping_method", rate_id="rate@"),
    r("GET", "/payment-methods", P.PAYMENTS_MANAGE, 200),
    r("POST", "/payment-methods", P.PAYMENTS_MANAGE, 201,
      lambda w, _: {"code": unique("pm"), "provider": "stripe", "name": "Card",
                 "secret": "sk_test_new"}),
    r("GET", "/payment-methods/{method_id}", P.PAYMENTS_MANAGE, 200, method_id="payment_method"),
    r("PATCH", "/payment-methods/{method_id}", P.PAYMENTS_MANAGE, 200,
      {"secret": "sk_test_changed"}, method_id="payment_method"),
    r("DELETE", "/payment-methods/{method_id}", P.PAYMENTS_MANAGE, 204,
      method_id="payment_method@"),
    r("GET", "/discounts", P.DISCOUNTS_VIEW, 200),
    r("POST", "/discounts", P.DISCOUNTS_MANAGE, 201,
      {"name": "New", "kind": "percentage", "value": 500, "is_active": False}),
    r("GET", "/discounts/{discount_id}", P.DISCOUNTS_VIEW, 200),
    r("PATCH", "/discounts/{discount_id}", P.DISCOUNTS_MANAGE, 200, {"value": 1500}),
    r("DELETE", "/discounts/{discount_id}", P.DISCOUNTS_MANAGE, 204,
      discount_id="discount@"),
    r("POST", "/discounts/{discount_id}/codes", P.DISCOUNTS_MANAGE, 201,
      lambda w, _: {"code": unique("CODE").upper()}),
    r("GET", "/discounts/{discount_id}/codes", P.DISCOUNTS_VIEW, 200),
    r("DELETE", "/discounts/{discount_id}/codes/{code_id}", P.DISCOUNTS_MANAGE, 204,
      code_id="code@"),
    r("GET", "/discounts/{discount_id}/redemptions", P.DISCOUNTS_VIEW, 200),
    r("GET", "/orders", P.ORDERS_VIEW, 200),
    r("GET", "/orders/{order_id}", P.ORDERS_VIEW, 200, order_id="order_fulfil@"),
    r("GET", "/orders/{order_id}/history", P.ORDERS_VIEW, 200, order_id="order_fulfil@"),
    r("POST", "/orders/{order_id}/cancel", P.ORDERS_CANCEL, 200, {"reason": "asked"},
      order_id="order_cancel@"),
    r("POST", "/orders/{order_id}/mark-paid", P.ORDERS_MARK_PAID, 200, {},
      order_id="order_pay@"),
    r("POST", "/orders/{order_id}/fulfillments", P.ORDERS_FULFIL, 201,
      lambda w, role: {"items": [{"order_item_id": w.ids[f"line@{role}"], "quantity": 1}]},
      order_id="order_fulfil@"),
    r("POST", "/orders/{order_id}/refunds", P.ORDERS_REFUND, 201,
      {"amount": 100, "reason": "damaged"}, order_id="order_refund"),
    r("DELETE", "", P.STORE_DELETE, 204),  # last: the owner's call ends the store
)  # fmt: skip
