"""Price rules on the storefront, inventory locations, adjustments and their history."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from storefleet.testing import PLACEMENTS, Stores
from tests.commerce.catalog.helpers import Shop, api, assert_problem, front, make_shops, tshirt


@pytest.fixture(scope="module")
def shops(stores: Stores) -> Callable[[str, str], Shop]:
    return make_shops(stores)


@pytest.fixture(params=PLACEMENTS)
def shop(shops: Callable[[str, str], Shop], request: pytest.FixtureRequest) -> Shop:
    return shops(str(request.param), "main")


def storefront_price(client: TestClient, shop: Shop, slug: str, **params: str) -> dict[str, Any]:
    response = client.get(f"/api/storefront/products/{slug}", headers=front(shop), params=params)
    assert response.status_code == 200, response.text
    default = next(v for v in response.json()["variants"] if v["is_default"])
    return default["price"]  # type: ignore[no-any-return]


def test_price_rules_change_storefront_prices(client: TestClient, shop: Shop) -> None:
    headers = shop["headers"]
    product = client.post(api(shop, "/products"), headers=headers, json=tshirt()).json()
    slug = product["slug"]
    assert storefront_price(client, shop, slug)["amount"] == 2099

    rules = api(shop, "/price-rules")
    assert_problem(
        client.post(rules, headers=headers, json={"name": "s", "kind": "sale"}),
        422,
        "percent_off_bp",
    )
    assert_problem(
        client.post(
            rules,
            headers=headers,
            json={
                "name": "s",
                "kind": "sale",
                "percent_off_bp": 100,
                "starts_at": "2030-01-02T00:00:00Z",
                "ends_at": "2030-01-01T00:00:00Z",
            },
        ),
        422,
        "ends_at",
    )
    sale = client.post(
        rules, headers=headers, json={"name": "Summer", "kind": "sale", "percent_off_bp": 2500}
    )
    assert sale.status_code == 201, sale.text
    assert storefront_price(client, shop, slug) == {
        "currency": "USD",
        "amount": 1574,
        "compare_at_amount": 2099,  # 2099 - 524.75 half-up
    }
    listed = client.get(
        api(shop, "/products"), headers=headers, params={"q": product["name"]}
    ).json()
    assert listed["total"] >= 1

    # A sale for another country does not apply unless the shopper's country matches.
    client.patch(f"{rules}/{sale.json()['id']}", headers=headers, json={"country": "de"})
    assert storefront_price(client, shop, slug)["amount"] == 2099
    assert storefront_price(client, shop, slug, country="DE")["amount"] == 1574

    # An override price list priced per variant through the product write.
    override = client.post(rules, headers=headers, json={"name": "VIP", "priority": 5}).json()
    medium = next(v for v in product["variants"] if v["is_default"])
    patch = {
        "variants": [
            {
                "id": medium["id"],
                "prices": [
                    {"currency": "USD", "amount": 2099},
                    {"currency": "USD", "amount": 1000, "price_rule_id": override["id"]},
                ],
            }
        ]
    }
    patched = client.patch(api(shop, f"/products/{product['id']}"), headers=headers, json=patch)
    assert patched.status_code == 200, patched.text
    assert storefront_price(client, shop, slug)["amount"] == 1000
    bad = {
        "variants": [
            {
                "id": medium["id"],
                "prices": [{"currency": "USD", "amount": 1, "price_rule_id": str(uuid.uuid4())}],
            }
        ]
    }
    assert_problem(
        client.patch(api(shop, f"/products/{product['id']}"), headers=headers, json=bad),
        422,
        "variants.0.prices.0.price_rule_id",
    )

    # Deactivating / deleting rules restores the base price.
    off = client.patch(f"{rules}/{override['id']}", headers=headers, json={"is_active": False})
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert storefront_price(client, shop, slug)["amount"] == 2099
    for rule in (override, sale.json()):
        assert client.delete(f"{rules}/{rule['id']}", headers=headers).status_code == 204
        assert_problem(client.get(f"{rules}/{rule['id']}", headers=headers), 404)
    assert storefront_price(client, shop, slug, country="DE")["amount"] == 2099


def test_locations_adjustments_and_history(client: TestClient, shop: Shop) -> None:
    headers = shop["headers"]
    locations = api(shop, "/inventory/locations")
    code = f"wh-{uuid.uuid4().hex[:6]}"
    made = client.post(locations, headers=headers, json={"name": "Warehouse", "code": code})
    assert made.status_code == 201, made.text
    location = made.json()
    assert_problem(
        client.post(locations, headers=headers, json={"name": "x", "code": code}), 409, "code"
    )
    listed = client.get(locations, headers=headers).json()["items"]
    main = next(loc for loc in listed if loc["code"] == "main")
    assert main["is_default"] is True
    assert_problem(
        client.patch(f"{locations}/{main['id']}", headers=headers, json={"is_active": False}),
        409,
        "is_active",
    )
    assert_problem(
        client.patch(f"{locations}/{location['id']}", headers=headers, json={"code": "main"}),
        409,
        "code",
    )

    product = client.post(api(shop, "/products"), headers=headers, json=tshirt()).json()
    variant = product["variants"][0]["id"]  # 5 on hand at main
    adjust = api(shop, "/inventory/adjustments")

    def move(delta: int, where: str, reason: str = "received") -> Any:
        return client.post(
            adjust,
            headers=headers,
            json={"variant_id": variant, "location_id": where, "delta": delta, "reason": reason},
        )

    got = move(10, location["id"])
    assert got.status_code == 201, got.text
    assert (got.json()["on_hand"], got.json()["location_code"]) == (10, code)
    assert move(-3, location["id"], "damaged").json()["on_hand"] == 7
    assert_problem(move(-8, location["id"], "correction"), 409, "delta")  # never negative
    assert_problem(move(-6, main["id"], "correction"), 409, "delta")
    assert_problem(move(0, main["id"]), 422, "delta")
    assert_problem(move(1, main["id"], "sold"), 422, "reason")
    assert_problem(move(1, str(uuid.uuid4())), 404, "location_id")

    levels = client.get(
        api(shop, "/inventory"), headers=headers, params={"variant_id": variant}
    ).json()
    assert {(r["location_code"], r["on_hand"]) for r in levels["items"]} == {("main", 5), (code, 7)}

    history = client.get(adjust, headers=headers, params={"variant_id": variant, "limit": 2}).json()
    assert history["total"] == 3  # initial stock from the product write, +10, -3
    assert [(h["delta"], h["on_hand_after"], h["reason"]) for h in history["items"]] == [
        (-3, 7, "damaged"),
        (10, 10, "received"),
    ]
    assert history["items"][0]["actor"].startswith("owner:")
    rest = client.get(
        adjust, headers=headers, params={"variant_id": variant, "limit": 2, "offset": 2}
    ).json()
    assert [(h["delta"], h["reason"]) for h in rest["items"]] == [(5, "initial")]

    # The storefront counts stock over active locations only.
    detail = client.get(f"/api/storefront/products/{product['slug']}", headers=front(shop)).json()
    small = next(v for v in detail["variants"] if v["id"] == variant)
    assert small["available"] == 12
    client.patch(f"{locations}/{location['id']}", headers=headers, json={"is_active": False})
    detail = client.get(f"/api/storefront/products/{product['slug']}", headers=front(shop)).json()
    assert next(v for v in detail["variants"] if v["id"] == variant)["available"] == 5

    # Making another location the default moves the flag; the old default keeps its stock.
    client.patch(f"{locations}/{location['id']}", headers=headers, json={"is_active": True})
    moved = client.patch(
        f"{locations}/{location['id']}", headers=headers, json={"is_default": True}
    )
    assert moved.status_code == 200, moved.text
    flags = {
        loc["code"]: loc["is_default"]
        for loc in client.get(locations, headers=headers).json()["items"]
    }
    assert flags["main"] is False and flags[code] is True
    assert (
        client.patch(
            f"{locations}/{main['id']}", headers=headers, json={"is_default": True}
        ).status_code
        == 200
    )
