"""Store A's owner, staff and customers against store B's customers, in every placement.

Every admin customer route with B's ids (under A's path, or B's path itself) answers 404;
a customer token of A on B's storefront is refused (400: Host / X-Store-Id and the token's
store disagree) without B's data; B's rows are unchanged afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.commerce.test_customers import (
    ADDRESS,
    CUSTOMER_PASSWORD,
    create_customer,
    customers_url,
    email,
    register,
    runtime_of,
    storefront,
)
from tests.conftest import PLACEMENTS, Stores, bearer
from tests.pgserver import unique_name

Shop = dict[str, Any]
STAFF_PASSWORD = "Staff-Passw0rd!x"
ME = "/api/storefront/customers/me"


def staff_token(client: TestClient, store: Shop) -> str:
    address = email("staff")
    added = client.post(
        f"/api/stores/{store['id']}/staff",
        headers=store["headers"],
        json={
            "email": address,
            "password": STAFF_PASSWORD,
            "first_name": "S",
            "last_name": "T",
            "role": "admin",
        },
    )
    assert added.status_code == 201, added.text
    login = client.post(
        "/api/auth/staff/login",
        json={"store_id": store["id"], "email": address, "password": STAFF_PASSWORD},
    )
    assert login.status_code == 200, login.text
    token: str = login.json()["token"]
    return token


def add_hostname(client: TestClient, store: Shop) -> str:
    name = f"{unique_name('h').replace('_', '-')}.shop.example"
    response = client.post(
        f"/api/stores/{store['id']}/hostnames", headers=store["headers"], json={"hostname": name}
    )
    assert response.status_code == 201, response.text
    return name


@pytest.fixture(scope="module")
def worlds(client: TestClient, stores: Stores) -> Callable[[str], dict[str, Any]]:
    """Per placement: stores A and B, A's staff, B's customer with an address, both hosts."""
    cache: dict[str, dict[str, Any]] = {}

    def get(placement: str) -> dict[str, Any]:
        if placement in cache:
            return cache[placement]
        a, b = stores.create(placement), stores.create(placement)
        b_customer = create_customer(client, b, first_name="Bea")
        b_address = client.post(
            customers_url(b, f"/{b_customer['id']}/addresses"), headers=b["headers"], json=ADDRESS
        ).json()
        a_customer = create_customer(client, a)
        a_address = client.post(
            customers_url(a, f"/{a_customer['id']}/addresses"), headers=a["headers"], json=ADDRESS
        ).json()
        runtime_of(client).login_throttle.clear()
        world = {
            "a": a,
            "b": b,
            "a_staff": staff_token(client, a),
            "a_host": add_hostname(client, a),
            "b_host": add_hostname(client, b),
            "a_customer": a_customer,
            "a_address": a_address,
            "b_customer": b_customer,
            "b_address": b_address,
            "a_account": register(client, a),
            "b_account": register(client, b),
        }
        cache[placement] = world
        return world

    return get


@pytest.fixture(params=PLACEMENTS)
def world(
    request: pytest.FixtureRequest, worlds: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    return worlds(str(request.param))


def snapshot(client: TestClient, w: dict[str, Any]) -> Any:
    b = w["b"]
    customer = client.get(customers_url(b, f"/{w['b_customer']['id']}"), headers=b["headers"])
    addresses = client.get(
        customers_url(b, f"/{w['b_customer']['id']}/addresses"), headers=b["headers"]
    )
    listed = client.get(customers_url(b), headers=b["headers"], params={"limit": 200})
    me = client.get(ME, headers=storefront(b, w["b_account"]["token"]))
    assert customer.status_code == addresses.status_code == listed.status_code == 200
    assert me.status_code == 200
    return customer.json(), addresses.json(), listed.json(), me.json()


@pytest.mark.parametrize("actor", ["owner", "staff"])
def test_admin_customer_routes_refuse_other_store_ids(
    client: TestClient, world: dict[str, Any], actor: str
) -> None:
    w = world
    a, b = w["a"], w["b"]
    headers = a["headers"] if actor == "owner" else bearer(w["a_staff"])
    before = snapshot(client, w)
    bc, ba = w["b_customer"]["id"], w["b_address"]["id"]
    ac = w["a_customer"]["id"]
    patch = {"first_name": "Hacked"}
    attempts: list[tuple[str, str, dict[str, Any] | None]] = [
        # A's path, B's ids.
        ("GET", customers_url(a, f"/{bc}"), None),
        ("PATCH", customers_url(a, f"/{bc}"), patch),
        ("DELETE", customers_url(a, f"/{bc}"), None),
        ("GET", customers_url(a, f"/{bc}/addresses"), None),
        ("POST", customers_url(a, f"/{bc}/addresses"), ADDRESS),
        ("PATCH", customers_url(a, f"/{bc}/addresses/{ba}"), {"city": "Hacked"}),
        ("DELETE", customers_url(a, f"/{bc}/addresses/{ba}"), None),
        ("PATCH", customers_url(a, f"/{ac}/addresses/{ba}"), {"city": "Hacked"}),
        ("DELETE", customers_url(a, f"/{ac}/addresses/{ba}"), None),
        # B's path itself.
        ("GET", customers_url(b), None),
        ("POST", customers_url(b), {"email": email("x")}),
        ("GET", customers_url(b, f"/{bc}"), None),
        ("PATCH", customers_url(b, f"/{bc}"), patch),
        ("DELETE", customers_url(b, f"/{bc}"), None),
        ("GET", customers_url(b, f"/{bc}/addresses"), None),
        ("POST", customers_url(b, f"/{bc}/addresses"), ADDRESS),
        ("PATCH", customers_url(b, f"/{bc}/addresses/{ba}"), {"city": "Hacked"}),
        ("DELETE", customers_url(b, f"/{bc}/addresses/{ba}"), None),
    ]
    for method, url, body in attempts:
        response = client.request(method, url, headers=headers, json=body)
        assert response.status_code == 404, (method, url, response.text)
        assert "Bea" not in response.text
    # A's own list never shows B's customer.
    listed = client.get(customers_url(a), headers=headers, params={"limit": 200}).json()
    assert bc not in {c["id"] for c in listed["items"]}
    assert snapshot(client, w) == before


def test_customer_token_of_a_on_store_b(client: TestClient, world: dict[str, Any]) -> None:
    w = world
    a, b = w["a"], w["b"]
    token = w["a_account"]["token"]
    before = snapshot(client, w)
    routes = [
        ("GET", ME, None),
        ("PATCH", ME, {"first_name": "Hacked"}),
        ("GET", f"{ME}/addresses", None),
        ("POST", f"{ME}/addresses", ADDRESS),
        ("GET", f"{ME}/orders", None),
        ("POST", "/api/storefront/customers/logout", None),
    ]
    for signal in ({"Host": w["b_host"]}, {"X-Store-Id": str(b["id"])}):
        for method, url, body in routes:
            response = client.request(method, url, headers={**signal, **bearer(token)}, json=body)
            assert 400 <= response.status_code < 500, (signal, url, response.text)
            assert response.status_code == 400, response.text
            assert w["b_customer"]["email"] not in response.text
            assert w["b_account"]["email"] not in response.text
    # Also with no store signal but the token, the token's own store (A) is served.
    mine = client.get(ME, headers=bearer(token))
    assert mine.status_code == 200 and mine.json()["email"] == w["a_account"]["email"]
    # A's address ids through B's customer: not found; and the reverse.
    response = client.patch(
        f"{ME}/addresses/{w['b_address']['id']}",
        headers={"Host": w["a_host"], **bearer(token)},
        json={"city": "Hacked"},
    )
    assert response.status_code == 404, response.text
    response = client.delete(
        f"{ME}/addresses/{w['a_address']['id']}",
        headers={"Host": w["b_host"], **bearer(w["b_account"]["token"])},
    )
    assert response.status_code == 404, response.text
    # A's customer token on admin routes: 403 for its own store, 404 for B.
    own = client.get(customers_url(a), headers=bearer(token))
    assert own.status_code == 403, own.text
    other = client.get(customers_url(b), headers=bearer(token))
    assert other.status_code == 404, other.text
    # A's credentials do not sign in on B; the same email can register separately on B.
    runtime_of(client).login_throttle.clear()
    login = client.post(
        "/api/storefront/customers/login",
        headers={"Host": w["b_host"]},
        json={"email": w["a_account"]["email"], "password": CUSTOMER_PASSWORD},
    )
    assert login.status_code == 401, login.text
    assert snapshot(client, w) == before
