"""The OpenAPI fuzzer (schemathesis) against every operation: no input gives a server error.

Each operation of ``app.openapi()`` is one test. Cases are generated from the schema, valid
and invalid (schemathesis' positive and negative modes, and its coverage phase of boundary
values inside the schema), and sent through the module's ASGI ``client`` as the signed-in
owner of a real pool store. Path parameters are bound to real ids made in ``world``
(product, category, order, customer, cart, discount, ...), so a call reaches its handler
instead of stopping at a 404.

``not_a_server_error`` is the check: every answer is < 500. The one exception is deliberate:
without platform Stripe keys (as in tests) ``POST /api/credits/purchase`` and the Stripe
webhook answer 503 "Payments are not configured" (README, "Errors"); any other 5xx fails.

So that the run keeps reaching handlers: a DELETE removes a spare object made for it (the
parent ids stay the real ones); the calls that delete, move or reconnect a store act on
stores of their own; the three logouts revoke a fresh token each; the customer routes run
as a signed-in customer. Each fuzzing-phase call is sent again with a NUL in one of its
strings (the generator rarely draws one by itself).

Examples per operation: ``STOREFLEET_FUZZ_EXAMPLES`` (default 10). Generation is
derandomized, so CI sees the same cases on every run; ``STOREFLEET_FUZZ_RANDOM=1`` draws new
ones.
"""

from __future__ import annotations

import copy
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.testing import STRONG_PASSWORD, Stores, bearer, make_settings
from tests.commerce.orders.test_checkout_e2e import BERLIN, PASSWORD, Shop, ok

EXAMPLES = int(os.environ.get("STOREFLEET_FUZZ_EXAMPLES", "10"))
# CI replays the same cases; set STOREFLEET_FUZZ_RANDOM=1 to explore new ones.
RANDOM = os.environ.get("STOREFLEET_FUZZ_RANDOM") == "1"
# Payments are not configured in tests: these answer 503 on purpose (README, "Errors").
DELIBERATE_5XX = {
    ("POST", "/api/credits/purchase"): 503,
    ("POST", "/api/billing/stripe/webhook"): 503,
}
MOVING_STORE_OPERATIONS = {
    ("POST", "/api/stores/{store_id}/move"),
    ("POST", "/api/stores/{store_id}/connect-database"),
    ("POST", "/api/stores/{store_id}/provision"),
}
DELETED_STORE_OPERATION = ("DELETE", "/api/stores/{store_id}")

# The routes do not depend on settings: the schema is read from an app that never starts.
schema = schemathesis.openapi.from_dict(create_app(Settings(environment="test")).openapi())
# Methods a path does not have answer 405 from the router before any handler: not sent.
schema.config.phases.coverage.unexpected_methods = set()
# Boundary cases inside the schema (the largest quantity, the longest name) reach handlers;
# invalid ones stop at validation, and the fuzzing phase sends those anyway. This keeps the
# run at about 3500 calls (2.5 minutes on a loaded 2-core machine).
schema.config.phases.coverage.generation.update(modes=[schemathesis.GenerationMode.POSITIVE])


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"),
        control_db,
        # Thousands of calls from one client: no budget or login throttle may stop them
        # before they reach the handlers.
        rate_limit_enabled=False,
        login_max_failures=1_000_000,
    )


@dataclass
class World:
    """Real objects of one store, spares for the DELETEs, and a sign-in for each caller."""

    client: TestClient
    store_id: str
    moving_store_id: str
    deleted_store_id: str
    owner_email: str
    owner_headers: dict[str, str]
    customer_email: str
    customer_headers: dict[str, str]
    staff_email: str
    ids: dict[str, str] = field(default_factory=dict)
    spares: dict[str, str] = field(default_factory=dict)

    def fresh_owner(self) -> dict[str, str]:
        body = {"email": self.owner_email, "password": STRONG_PASSWORD}
        return bearer(ok(self.client.post("/api/auth/login", json=body))["token"])

    def fresh_staff(self) -> dict[str, str]:
        body = {"store_id": self.store_id, "email": self.staff_email, "password": STRONG_PASSWORD}
        return bearer(ok(self.client.post("/api/auth/staff/login", json=body))["token"])

    def fresh_customer(self) -> dict[str, str]:
        response = self.client.post(
            "/api/storefront/customers/login",
            headers={"X-Store-Id": self.store_id},
            json={"email": self.customer_email, "password": PASSWORD},
        )
        return bearer(ok(response)["token"])


def objects(shop: Shop, me: dict[str, str], tag: str) -> tuple[dict[str, str], dict[str, Any]]:
    """One of everything an admin path names; ``tag`` keeps codes and slugs unique."""
    tax_class = shop.tax_class(f"{tag}-tax", 1900, default=tag == "main")
    zone = shop.post("/shipping-zones", {"name": f"{tag} zone", "countries": ["DE"]})
    method = shop.post(f"/shipping-zones/{zone['id']}/methods", {"name": tag, "code": tag})
    rate = shop.post(f"/shipping-methods/{method['id']}/rates", {"currency": "USD", "amount": 499})
    pay_code = "manual" if tag == "main" else f"{tag}-pay"  # Shop.checkout pays "manual"
    payment = shop.post(
        "/payment-methods", {"code": pay_code, "provider": "manual", "name": "Pay later"}
    )
    category = shop.post("/categories", {"name": tag, "slug": f"{tag}-category"})
    variant = shop.product(tag, {"USD": 1999}, slug=f"{tag}-product", category_ids=[category["id"]])
    discount = shop.discount(f"{tag.upper()}10", kind="percentage", value=1000)
    customer = shop.post("/customers", {"email": f"{tag}-{uuid.uuid4().hex[:8]}@example.com"})
    staff_email = f"{tag}-staff-{uuid.uuid4().hex[:8]}@example.com"
    staff = {"email": staff_email, "first_name": "Sam", "last_name": "Staff", "role": "staff"}
    me_address = ok(
        shop.http.post(
            "/api/storefront/customers/me/addresses", headers={**shop.front, **me}, json=BERLIN
        ),
        201,
    )
    ids = {
        "class_id": tax_class,
        "tax_rule_id": shop.get(f"/tax-classes/{tax_class}/rules")["items"][0]["id"],
        "zone_id": zone["id"],
        "shipping_method_id": method["id"],
        "rate_id": rate["id"],
        "payment_method_id": payment["id"],
        "category_id": category["id"],
        "product_id": variant["product_id"],
        "discount_id": discount,
        "code_id": shop.get(f"/discounts/{discount}/codes")["items"][0]["id"],
        "price_rule_id": shop.post(
            "/price-rules", {"name": tag, "kind": "sale", "percent_off_bp": 500}
        )["id"],
        "customer_id": customer["id"],
        "address_id": shop.post(f"/customers/{customer['id']}/addresses", BERLIN)["id"],
        "me_address_id": me_address["id"],
        "user_id": shop.post("/staff", {**staff, "password": STRONG_PASSWORD})["id"],
        "hostname_id": shop.post(
            "/hostnames", {"hostname": f"{tag}-{uuid.uuid4().hex[:8]}.shop.example"}
        )["id"],
        "staff_email": staff_email,
    }
    return {k: str(v) for k, v in ids.items()}, variant


@pytest.fixture(scope="module")
def world(client: TestClient, stores: Stores) -> World:
    store = stores.create("pool")
    owner: dict[str, Any] = store["owner"]  # type: ignore[assignment]
    moving = stores.create("pool", owner=owner)
    deleted = stores.create("pool", owner=owner)
    shop = Shop(client, store)
    me, _ = shop.register()
    customer_email = ok(client.get("/api/storefront/customers/me", headers={**shop.front, **me}))
    ids, variant = objects(shop, me, "main")
    spares, spare_variant = objects(shop, me, "spare")
    ordered = shop.cart("USD")
    shop.add(ordered, variant, 2)
    shop.ready(ordered, "guest@example.com", ids["shipping_method_id"], code="MAIN10")
    ids["order_id"] = str(ok(shop.checkout(ordered), 201)["id"])
    cart = shop.cart("USD")
    ids["item_id"] = str(shop.add(cart, variant, 1)["items"][0]["id"])
    spares["item_id"] = str(shop.add(cart, spare_variant, 1)["items"][1]["id"])
    ids["token"] = cart
    ids["location_id"] = str(shop.get("/inventory/locations")["items"][0]["id"])
    ids["checkout_token"] = shop.cart("USD")
    shop.add(ids["checkout_token"], variant, 1)
    shop.ready(ids["checkout_token"], "buyer@example.com", ids["shipping_method_id"])
    return World(
        client=client,
        store_id=shop.id,
        moving_store_id=str(moving["id"]),
        deleted_store_id=str(deleted["id"]),
        owner_email=str(owner["user"]["email"]),
        owner_headers=dict(shop.admin),
        customer_email=str(customer_email["email"]),
        customer_headers=me,
        staff_email=ids["staff_email"],
        ids={
            **ids,
            "slug": "main-product",
            "category_slug": "main-category",
            "currency_code": "EUR",
            "discount_code": "MAIN10",
        },
        spares=spares,
    )


def id_key(method: str, path: str, name: str) -> str:
    """Which kind of object a path parameter names (several share a name)."""
    if name == "method_id":
        return "payment_method_id" if "/payment-methods/" in path else "shipping_method_id"
    if name == "rule_id":
        return "price_rule_id" if "/price-rules/" in path else "tax_rule_id"
    if name == "code":
        return "currency_code" if "/currencies/" in path else "discount_code"
    if name == "slug":
        return "category_slug" if "/categories/" in path else "slug"
    if name == "address_id" and path.startswith("/api/storefront/customers/me"):
        return "me_address_id"
    if name == "token" and path.endswith("/checkout"):
        return "checkout_token"
    return name


def bound_parameters(world: World, method: str, path: str, names: list[str]) -> dict[str, str]:
    """A real id for each path parameter; a DELETE's own object is a spare."""
    if (method, path) in MOVING_STORE_OPERATIONS:
        store_id = world.moving_store_id
    elif (method, path) == DELETED_STORE_OPERATION:
        store_id = world.deleted_store_id
    else:
        store_id = world.store_id
    out = {}
    last = path.rsplit("{", 1)[-1].rstrip("}")
    for name in names:
        key = id_key(method, path, name)
        if name == "store_id":
            out[name] = store_id
        elif method == "DELETE" and name == last and key in world.spares:
            out[name] = world.spares[key]
        else:
            out[name] = world.ids[key]
    return out


def caller_headers(world: World, path: str) -> dict[str, str]:
    """Who calls: a fresh token for a logout, the customer on their own routes."""
    if path == "/api/auth/logout":
        auth = world.fresh_owner()
    elif path == "/api/auth/staff/logout":
        auth = world.fresh_staff()
    elif path == "/api/storefront/customers/logout":
        auth = world.fresh_customer()
    elif path.startswith("/api/storefront/customers/me"):
        auth = world.customer_headers
    else:
        auth = world.owner_headers
    return {**auth, "X-Store-Id": world.store_id}


def httpx_arguments(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Schemathesis prepares ``requests`` arguments; the test client speaks ``httpx``."""
    out = {key: kwargs.get(key) for key in ("method", "url", "headers", "params")}
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        out["content"] = kwargs["data"]
    return out


def string_leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in string_leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in string_leaves(v, (*path, i))]
    return []


def with_nul(arguments: dict[str, Any]) -> dict[str, Any] | None:
    """The same request with a NUL inside one of its strings (in the body, else the query),
    or None when it has none. The generator draws a NUL only now and then; PostgreSQL
    refuses every one, so each generated call gets a poisoned twin."""
    body, params = arguments.get("json"), arguments.get("params")
    for name, container in (("json", body), ("params", params)):
        leaves = string_leaves(container)
        if not leaves:
            continue
        leaf = leaves[len(leaves) // 2]
        if not leaf:  # the whole body is one string
            return {**arguments, name: f"{container[:1]}\x00{container[1:]}"}
        *parents, last = leaf
        copied = copy.deepcopy(container)
        target = copied
        for part in parents:
            target = target[part]
        target[last] = f"{target[last][:1]}\x00{target[last][1:]}"
        return {**arguments, name: copied}
    return None


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_gives_a_server_error(case: Any, world: World) -> None:
    method, path = case.operation.method.upper(), case.operation.path
    if case.path_parameters:
        case.path_parameters = bound_parameters(world, method, path, list(case.path_parameters))
    headers = {**(case.headers or {}), **caller_headers(world, path)}
    prepared = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    response = world.client.request(**httpx_arguments(prepared))
    if DELIBERATE_5XX.get((method, path)) != response.status_code:
        case.validate_response(response, checks=[not_a_server_error])
    poisoned = with_nul(httpx_arguments(prepared))
    if poisoned is not None and case.meta is not None and case.meta.phase.name == "fuzzing":
        answer = world.client.request(**poisoned)
        assert answer.status_code < 500 or DELIBERATE_5XX.get((method, path)), (
            f"{method} {path} with a NUL: {answer.status_code} {answer.text[:300]}",
            poisoned,
        )
