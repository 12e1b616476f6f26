"""Store A's owner and staff against store B's tax, shipping and payment settings.

Every route with B's ids under A's path, or under B's path itself, answers 404, in every
placement, and B's settings are unchanged afterwards. The same calls on a fresh set of A's
own settings work for the same caller (the positive control), deletes last.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from storefleet.testing import PLACEMENTS, Stores, bearer, unique_name
from tests.isolation.attack import Request, refused_then_allowed
from tests.isolation.test_customer_attacks import staff_token

Shop = dict[str, Any]
SECRET = "sk_test_b_store_secret_value"


def url(store: Shop, suffix: str) -> str:
    return f"/api/stores/{store['id']}{suffix}"


def post(client: TestClient, store: Shop, suffix: str, body: dict[str, Any]) -> str:
    response = client.post(url(store, suffix), headers=store["headers"], json=body)
    assert response.status_code == 201, response.text
    created: str = response.json()["id"]
    return created


def unique(tag: str) -> str:
    return unique_name(tag).replace("_", "-")


def settings_of(client: TestClient, store: Shop) -> dict[str, str]:
    """One of each object: class, rule, zone, method, rate, payment method."""
    ids: dict[str, str] = {}
    ids["class"] = post(client, store, "/tax-classes", {"name": "Std", "code": unique("std")})
    ids["rule"] = post(
        client, store, f"/tax-classes/{ids['class']}/rules", {"country": "DE", "rate_bp": 1900}
    )
    ids["zone"] = post(client, store, "/shipping-zones", {"name": "DE", "countries": ["DE"]})
    ids["method"] = post(
        client, store, f"/shipping-zones/{ids['zone']}/methods", {"name": "Std", "code": "std"}
    )
    ids["rate"] = post(
        client, store, f"/shipping-methods/{ids['method']}/rates", {"currency": "USD", "amount": 9}
    )
    ids["payment"] = post(
        client,
        store,
        "/payment-methods",
        {"code": unique("card"), "provider": "stripe", "name": "Card", "secret": SECRET},
    )
    return ids


@pytest.fixture(scope="module")
def worlds(client: TestClient, stores: Stores) -> Callable[[str], dict[str, Any]]:
    cache: dict[str, dict[str, Any]] = {}

    def get(placement: str) -> dict[str, Any]:
        if placement not in cache:
            a, b = stores.create(placement), stores.create(placement)
            client.put(
                url(b, "/tax-settings"), headers=b["headers"], json={"prices_include_tax": True}
            )
            cache[placement] = {
                "a": a,
                "b": b,
                "a_ids": settings_of(client, a),
                "b_ids": settings_of(client, b),
                "a_staff": staff_token(client, a),
            }
        return cache[placement]

    return get


@pytest.fixture(params=PLACEMENTS)
def world(
    request: pytest.FixtureRequest, worlds: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    return worlds(str(request.param))


def snapshot(client: TestClient, b: Shop, ids: dict[str, str]) -> list[Any]:
    h = b["headers"]
    paths = [
        "/tax-settings",
        "/tax-classes",
        f"/tax-classes/{ids['class']}",
        f"/tax-classes/{ids['class']}/rules",
        "/shipping-zones",
        f"/shipping-zones/{ids['zone']}",
        f"/shipping-zones/{ids['zone']}/methods",
        f"/shipping-methods/{ids['method']}",
        f"/shipping-methods/{ids['method']}/rates",
        "/payment-methods",
        f"/payment-methods/{ids['payment']}",
    ]
    out = []
    for path in paths:
        response = client.get(url(b, path), headers=h)
        assert response.status_code == 200, (path, response.text)
        out.append(response.json())
    return out


def attempts(store: Shop, ids: dict[str, str], own: dict[str, str]) -> list[Request]:
    """Every settings route with B's ids; ``own`` are ids of ``store`` for mixed paths."""
    c, r, z, m, rt, p = (ids[k] for k in ("class", "rule", "zone", "method", "rate", "payment"))
    rule = {"country": "FR", "rate_bp": 1}
    rate = {"currency": "USD", "amount": 1}
    return [
        ("GET", url(store, f"/tax-classes/{c}"), None),
        ("PATCH", url(store, f"/tax-classes/{c}"), {"name": "Hacked"}),
        ("DELETE", url(store, f"/tax-classes/{c}"), None),
        ("GET", url(store, f"/tax-classes/{c}/rules"), None),
        ("POST", url(store, f"/tax-classes/{c}/rules"), rule),
        ("PATCH", url(store, f"/tax-classes/{c}/rules/{r}"), {"rate_bp": 1}),
        ("DELETE", url(store, f"/tax-classes/{c}/rules/{r}"), None),
        ("PATCH", url(store, f"/tax-classes/{own['class']}/rules/{r}"), {"rate_bp": 1}),
        ("DELETE", url(store, f"/tax-classes/{own['class']}/rules/{r}"), None),
        ("GET", url(store, f"/shipping-zones/{z}"), None),
        ("PATCH", url(store, f"/shipping-zones/{z}"), {"name": "Hacked"}),
        ("DELETE", url(store, f"/shipping-zones/{z}"), None),
        ("GET", url(store, f"/shipping-zones/{z}/methods"), None),
        ("POST", url(store, f"/shipping-zones/{z}/methods"), {"name": "X", "code": "x"}),
        ("GET", url(store, f"/shipping-methods/{m}"), None),
        ("PATCH", url(store, f"/shipping-methods/{m}"), {"name": "Hacked"}),
        ("DELETE", url(store, f"/shipping-methods/{m}"), None),
        ("GET", url(store, f"/shipping-methods/{m}/rates"), None),
        ("POST", url(store, f"/shipping-methods/{m}/rates"), rate),
        ("PATCH", url(store, f"/shipping-methods/{m}/rates/{rt}"), {"amount": 1}),
        ("DELETE", url(store, f"/shipping-methods/{m}/rates/{rt}"), None),
        ("PATCH", url(store, f"/shipping-methods/{own['method']}/rates/{rt}"), {"amount": 1}),
        ("DELETE", url(store, f"/shipping-methods/{own['method']}/rates/{rt}"), None),
        ("GET", url(store, f"/payment-methods/{p}"), None),
        ("PATCH", url(store, f"/payment-methods/{p}"), {"secret": "sk_attacker"}),
        ("DELETE", url(store, f"/payment-methods/{p}"), None),
    ]


def creations(store: Shop) -> list[Request]:
    """The store-wide settings routes: the settings themselves, lists and new objects."""
    return [
        ("GET", url(store, "/tax-settings"), None),
        ("PUT", url(store, "/tax-settings"), {"prices_include_tax": False}),
        ("GET", url(store, "/tax-classes"), None),
        ("POST", url(store, "/tax-classes"), {"name": "X", "code": unique("x")}),
        ("GET", url(store, "/shipping-zones"), None),
        ("POST", url(store, "/shipping-zones"), {"name": "X"}),
        ("GET", url(store, "/payment-methods"), None),
        ("POST", url(store, "/payment-methods"),
         {"code": unique("x"), "provider": "manual", "name": "X"}),
    ]  # fmt: skip


@pytest.mark.parametrize("actor", ["owner", "staff"])
def test_settings_routes_refuse_other_store_ids(
    client: TestClient, world: dict[str, Any], actor: str
) -> None:
    a, b, a_ids, b_ids = world["a"], world["b"], world["a_ids"], world["b_ids"]
    headers = a["headers"] if actor == "owner" else bearer(world["a_staff"])
    before = snapshot(client, b, b_ids)
    tried = attempts(a, b_ids, a_ids) + attempts(b, b_ids, b_ids) + creations(b)
    own = settings_of(client, a)  # fresh: the controls delete them
    controls = attempts(a, own, own) * 2 + creations(a)
    for response in refused_then_allowed(client, tried, headers, controls, headers):
        assert SECRET not in response.text
    # A's own lists never contain B's objects.
    for path, key in (
        ("/tax-classes", "class"),
        ("/shipping-zones", "zone"),
        ("/payment-methods", "payment"),
    ):
        listed = client.get(url(a, path), headers=headers).json()["items"]
        assert b_ids[key] not in {i["id"] for i in listed}
    assert client.get(url(a, "/tax-settings"), headers=headers).json() == {
        "prices_include_tax": False
    }
    assert snapshot(client, b, b_ids) == before
