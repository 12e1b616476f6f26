"""Input no column can hold answers 422 naming the field, on every route, never a 500.

A NUL character or a lone surrogate in any string (body, nested, JSON object key or value,
query, path, header); a non-finite or out-of-range number; a stock adjustment or a cart whose
sum would pass its column's range. Each case also checks nothing was written.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.schemas import INT32_MAX, INT64_MAX, Strict
from storefleet.testing import STRONG_PASSWORD, Accounts, Stores
from tests.commerce.orders.test_checkout_e2e import Shop, ok, problem


@pytest.fixture(scope="module")
def shop(client: TestClient, stores: Stores) -> Shop:
    return Shop(client, stores.create("pool"))


def fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


# --- strings -------------------------------------------------------------------------------


def test_nul_in_login_is_422_naming_the_field(client: TestClient, accounts: Accounts) -> None:
    """The fuzzer's first find: a NUL in the login email reached PostgreSQL (500)."""
    owner = accounts.register()
    body = {"email": f"{owner['user']['email']}\u0000", "password": STRONG_PASSWORD}  # type: ignore[index]
    found = problem(client.post("/api/auth/login", json=body), 422, "email")
    assert found["type"].endswith("/validation-error")
    assert found["errors"][0]["code"] == "string_nul_character"
    problem(client.post("/api/auth/login", json={"email": "a@b.c", "password": "x\x00"}), 422)


def test_nul_nested_in_lists_and_json_objects_names_the_path(
    client: TestClient, shop: Shop
) -> None:
    body = {
        "name": "Nul shirt",
        "tags": ["ok", "b\u0000d"],
        "metadata": {"colour": {"names": ["red", "bl\u0000ue"]}, "k\u0000ey": 1},
        "variants": [{"title": "Default"}, {"title": "Large", "sku": "L\u0000"}],
    }
    response = shop.http.post(f"{shop.base}/products", headers=shop.admin, json=body)
    problem(response, 422)
    assert set(fields(response)) == {
        "tags.1",
        "metadata.colour.names.1",
        "metadata.k\\u0000ey",
        "variants.1.sku",
    }
    assert ok(shop.http.get(f"{shop.base}/products", headers=shop.admin))["total"] == 0


def test_customer_with_nul_in_notes_is_refused(shop: Shop) -> None:
    """Found by the fuzzer: ``notes`` with a NUL reached the INSERT (500)."""
    body = {"email": "nul@example.com", "notes": "a\u0000b"}
    problem(shop.http.post(f"{shop.base}/customers", headers=shop.admin, json=body), 422, "notes")
    assert ok(shop.http.get(f"{shop.base}/customers", headers=shop.admin))["total"] == 0


def test_lone_surrogate_is_refused(client: TestClient) -> None:
    """Valid JSON (an escaped lone surrogate) that UTF-8, hence PostgreSQL, cannot encode."""
    raw = b'{"email": "\\ud800@example.com", "password": "x", "first_name": "A", "last_name": "B"}'
    response = client.post(
        "/api/auth/register", content=raw, headers={"content-type": "application/json"}
    )
    problem(response, 422, "email")
    assert response.json()["errors"][0]["code"] == "string_unpaired_surrogate"
    raw = b'{"email": "a@b.c", "password": "x", "\\udfff": 1}'
    response = client.post(
        "/api/auth/login", content=raw, headers={"content-type": "application/json"}
    )
    problem(response, 422)  # in an object key too (the answer itself stays encodable)


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/customers", {"q": "a\u0000"}, "q"),
        ("/products", {"tag": "\u0000"}, "tag"),
        ("/orders", {"sort": "\u0000number"}, "sort"),
    ],
)
def test_nul_in_a_query_parameter(shop: Shop, path: str, params: dict[str, str], name: str) -> None:
    response = shop.http.get(shop.base + path, headers=shop.admin, params=params)
    problem(response, 422, name)


def test_nul_in_storefront_query_path_and_header(client: TestClient, shop: Shop) -> None:
    problem(
        client.get("/api/storefront/search", headers=shop.front, params={"q": "a\x00"}), 422, "q"
    )
    problem(client.get("/api/storefront/products/sh%00irt", headers=shop.front), 422, "slug")
    problem(client.get("/api/storefront/categories/%00/products", headers=shop.front), 422, "slug")
    token = shop.cart()
    problem(
        client.delete(f"/api/storefront/carts/{token}/codes/A%00", headers=shop.front), 422, "code"
    )
    checkout = client.post(
        f"/api/storefront/carts/{token}/checkout",
        headers={**shop.front, "Idempotency-Key": "k\x00"},
        json={"payment_method_code": "manual"},
    )
    problem(checkout, 422, "idempotency-key")
    # Positive control: the same calls without the NUL reach their handlers.
    assert (
        client.get("/api/storefront/search", headers=shop.front, params={"q": "a"}).status_code
        == 200
    )
    assert client.get("/api/storefront/products/shirt", headers=shop.front).status_code == 404


# --- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [b"1e400", b"-1e400", b"NaN", b"Infinity", b"1" + b"0" * 30, b"9" * 4000, b"2147483648"],
)
def test_numbers_past_a_column_are_422(shop: Shop, number: bytes) -> None:
    """Into an INTEGER field (a stock delta) and a JSON object field (product metadata)."""
    variant = shop.product(f"n-{number[:6].decode()}", {"USD": 100})
    location = ok(shop.http.get(f"{shop.base}/inventory/locations", headers=shop.admin))
    raw = b'{"variant_id": "%s", "location_id": "%s", "reason": "received", "delta": %s}' % (
        variant["id"].encode(),
        location["items"][0]["id"].encode(),
        number,
    )
    response = shop.http.post(
        f"{shop.base}/inventory/adjustments",
        headers={**shop.admin, "content-type": "application/json"},
        content=raw,
    )
    problem(response, 422, "delta")
    raw = b'{"metadata": {"weight": [%s]}}' % number
    response = shop.http.patch(
        f"{shop.base}/products/{variant['product_id']}",
        headers={**shop.admin, "content-type": "application/json"},
        content=raw,
    )
    if number in (b"1e400", b"-1e400", b"NaN", b"Infinity"):
        problem(response, 422, "metadata.weight.0")
    else:  # JSON numbers of any size fit a jsonb column
        assert response.status_code == 200, response.text


def test_an_integer_longer_than_python_parses_is_a_problem_not_a_500(shop: Shop) -> None:
    response = shop.http.post(
        f"{shop.base}/inventory/adjustments",
        headers={**shop.admin, "content-type": "application/json"},
        content=b'{"delta": %s}' % (b"9" * 5000),
    )
    problem(response, 400)


def test_stock_adjustments_cannot_sum_past_integer(shop: Shop) -> None:
    variant = shop.product("Bulk", {"USD": 100}, stock=10**9)
    location = ok(shop.http.get(f"{shop.base}/inventory/locations", headers=shop.admin))
    body = {
        "variant_id": variant["id"],
        "location_id": location["items"][0]["id"],
        "reason": "received",
        "delta": 10**9,
    }
    adjust = f"{shop.base}/inventory/adjustments"
    assert ok(shop.http.post(adjust, headers=shop.admin, json=body), 201)["on_hand"] == 2 * 10**9
    found = problem(shop.http.post(adjust, headers=shop.admin, json=body), 409, "delta")
    assert str(INT32_MAX) in found["detail"]
    assert shop.stock(variant)["on_hand"] == 2 * 10**9
    history = ok(shop.http.get(adjust, headers=shop.admin, params={"variant_id": variant["id"]}))
    assert history["total"] == 2  # the initial stock and the first adjustment, nothing else


def test_a_cart_total_past_bigint_is_refused(shop: Shop) -> None:
    """1000 units of 10**15 each is 10**18; ten such lines pass BIGINT (≈ 9.2 * 10**18)."""
    token = shop.cart("USD")
    variants = [shop.product(f"Gold {i}", {"USD": 10**15}, stock=1000) for i in range(10)]
    for variant in variants[:9]:
        shop.add(token, variant, 1000)
    response = shop.cart_call(
        "POST", token, "/items", {"variant_id": variants[9]["id"], "quantity": 1000}
    )
    found = problem(response, 422, "items")
    assert str(INT64_MAX) in found["detail"]
    cart = ok(shop.cart_call("GET", token))
    assert len(cart["items"]) == 9 and cart["subtotal"] == 9 * 10**18


# --- every route ---------------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    return create_app(Settings(environment="test")).openapi()


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = spec["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _integers(spec: dict[str, Any], node: dict[str, Any], where: str, seen: set[str]) -> Any:
    """Every integer schema reachable from ``node``, with where it is."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return
        seen.add(name)
        yield from _integers(spec, _resolve(spec, node), f"{where}<{name}>", seen)
        return
    if node.get("type") == "integer":
        yield where, node
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in node.get(key, []):
            yield from _integers(spec, sub, where, seen)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from _integers(spec, node[key], f"{where}[]", seen)
    for name, sub in node.get("properties", {}).items():
        yield from _integers(spec, sub, f"{where}.{name}", seen)


def test_every_integer_the_api_accepts_is_bounded_within_bigint() -> None:
    spec = _schema()
    found, unbounded = 0, []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            roots = [
                (f"{p['in']}:{p['name']}", p.get("schema", {})) for p in op.get("parameters", [])
            ]
            for media in op.get("requestBody", {}).get("content", {}).values():
                roots.append(("body", media.get("schema", {})))
            for root, node in roots:
                for where, integer in _integers(spec, node, root, set()):
                    found += 1
                    low = integer.get("minimum", integer.get("exclusiveMinimum"))
                    high = integer.get("maximum", integer.get("exclusiveMaximum"))
                    if low is None or high is None or low < -INT64_MAX - 1 or high > INT64_MAX:
                        unbounded.append(f"{method.upper()} {path} {where}")
    assert found > 50  # the walk really reaches the request schemas
    assert unbounded == []


def _strict_names() -> set[str]:
    names, todo = set(), [Strict]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


def test_every_request_body_derives_from_strict() -> None:
    spec = _schema()
    strict, bodies = _strict_names(), set()
    for operations in spec["paths"].values():
        for op in operations.values():
            for media in op.get("requestBody", {}).get("content", {}).values():
                node = media["schema"]
                for ref in [node, *node.get("anyOf", [])]:
                    if "$ref" in ref:
                        # Two classes of one name get their module in the component name.
                        bodies.add(ref["$ref"].rsplit("/", 1)[1].rsplit("__", 1)[-1])
    assert len(bodies) > 40
    assert sorted(bodies - strict) == []
