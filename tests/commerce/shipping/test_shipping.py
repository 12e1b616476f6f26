"""Shipping zones, methods and rates, and the options they give a cart, in every placement."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select

from storefleet.commerce.pricing.models import CurrencySetting
from storefleet.commerce.shipping import service as shipping
from tests.commerce.admin_api import Shop, code, post, url
from tests.commerce.customers.test_customers import call, problem, runtime_of

# -- shipping ------------------------------------------------------------------------------


def test_shipping_crud_and_validation(client: TestClient, shop: Shop) -> None:
    h = shop["headers"]
    zone = post(
        client,
        shop,
        "/shipping-zones",
        {"name": "DACH", "countries": ["de", "AT", "CH", "DE"], "postal_patterns": ["1*"]},
    )
    assert zone["countries"] == ["DE", "AT", "CH"] and zone["postal_patterns"] == ["1*"]
    problem(
        client.post(
            url(shop, "/shipping-zones"), headers=h, json={"name": "X", "countries": ["Germany"]}
        ),
        422,
        "countries.0",
    )
    patched = client.patch(
        url(shop, f"/shipping-zones/{zone['id']}"), headers=h, json={"regions": ["BE"]}
    )
    assert patched.json()["regions"] == ["BE"]
    problem(
        client.patch(url(shop, f"/shipping-zones/{zone['id']}"), headers=h, json={"name": None}),
        422,
    )

    methods = f"/shipping-zones/{zone['id']}/methods"
    method = post(client, shop, methods, {"name": "Standard", "code": "standard"})
    problem(
        client.post(url(shop, methods), headers=h, json={"name": "Again", "code": "standard"}),
        409,
        "code",
    )
    assert [m["id"] for m in client.get(url(shop, methods), headers=h).json()["items"]] == [
        method["id"]
    ]
    off = client.patch(
        url(shop, f"/shipping-methods/{method['id']}"), headers=h, json={"is_active": False}
    )
    assert off.json()["is_active"] is False

    rates = f"/shipping-methods/{method['id']}/rates"
    flat = post(client, shop, rates, {"kind": "flat", "currency": "usd", "amount": 500})
    assert flat["currency"] == "USD"
    for bad, field in (
        ({"kind": "flat", "currency": "EUR", "amount": 1}, "currency"),  # not enabled
        ({"kind": "flat", "currency": "XYZ", "amount": 1}, "currency"),
        ({"kind": "flat", "currency": "USD", "amount": -1}, "amount"),
        (
            {
                "kind": "weight",
                "currency": "USD",
                "amount": 1,
                "min_weight_grams": 10,
                "max_weight_grams": 5,
            },
            "max_weight_grams",
        ),
        (
            {
                "kind": "order_value",
                "currency": "USD",
                "amount": 1,
                "min_subtotal": 9,
                "max_subtotal": 1,
            },
            "max_subtotal",
        ),
        ({"kind": "free_over", "currency": "USD", "amount": 1}, "free_over_amount"),
        (
            {"kind": "flat", "currency": "USD", "amount": 1, "min_weight_grams": 1},
            "min_weight_grams",
        ),
        ({"kind": "express", "currency": "USD", "amount": 1}, "kind"),
    ):
        problem(client.post(url(shop, rates), headers=h, json=bad), 422, field)
    # A patch is checked against the whole rate.
    problem(
        client.patch(url(shop, f"{rates}/{flat['id']}"), headers=h, json={"kind": "free_over"}),
        422,
        "free_over_amount",
    )
    changed = client.patch(
        url(shop, f"{rates}/{flat['id']}"),
        headers=h,
        json={"kind": "free_over", "free_over_amount": 5000},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["kind"] == "free_over" and changed.json()["free_over_amount"] == 5000
    assert len(client.get(url(shop, rates), headers=h).json()["items"]) == 1
    assert client.delete(url(shop, f"{rates}/{flat['id']}"), headers=h).status_code == 204
    assert (
        client.delete(url(shop, f"/shipping-methods/{method['id']}"), headers=h).status_code == 204
    )
    problem(client.get(url(shop, f"/shipping-methods/{method['id']}"), headers=h), 404)
    assert client.delete(url(shop, f"/shipping-zones/{zone['id']}"), headers=h).status_code == 204
    problem(client.get(url(shop, methods), headers=h), 404)


def test_shipping_options_from_configured_rates(client: TestClient, shop: Shop) -> None:
    zone_code = code()
    zone = post(client, shop, "/shipping-zones", {"name": zone_code, "countries": ["NZ"]})
    methods = f"/shipping-zones/{zone['id']}/methods"
    flat = post(client, shop, methods, {"name": "Flat", "code": "flat", "position": 1})
    weight = post(client, shop, methods, {"name": "By weight", "code": "weight", "position": 2})
    value = post(client, shop, methods, {"name": "By value", "code": "value", "position": 3})
    free = post(client, shop, methods, {"name": "Free over", "code": "free", "position": 4})
    post(client, shop, f"/shipping-methods/{flat['id']}/rates", {"currency": "USD", "amount": 500})
    for low, high, amount in ((0, 1000, 400), (1001, 5000, 900)):
        post(
            client,
            shop,
            f"/shipping-methods/{weight['id']}/rates",
            {
                "kind": "weight",
                "currency": "USD",
                "amount": amount,
                "min_weight_grams": low,
                "max_weight_grams": high,
            },
        )
    post(
        client,
        shop,
        f"/shipping-methods/{value['id']}/rates",
        {"kind": "order_value", "currency": "USD", "amount": 300, "max_subtotal": 9999},
    )
    post(
        client,
        shop,
        f"/shipping-methods/{free['id']}/rates",
        {"kind": "free_over", "currency": "USD", "amount": 700, "free_over_amount": 10000},
    )

    async def options(subtotal: int, grams: int, country: str = "NZ") -> list[tuple[str, int]]:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop["id"]), write=False) as s:
            found = await shipping.options_for(
                s,
                address={"country": country},
                currency="USD",
                subtotal=subtotal,
                weight_grams=grams,
            )
            return [(o.code, o.amount) for o in found]

    assert call(client, options, 5000, 500) == [
        ("flat", 500), ("weight", 400), ("value", 300), ("free", 700),
    ]  # fmt: skip
    assert call(client, options, 10_000, 2500) == [("flat", 500), ("weight", 900), ("free", 0)]
    assert call(client, options, 10_000, 6000) == [("flat", 500), ("free", 0)]
    assert call(client, options, 100, 1, "AU") == []


def test_enabled_currency_rates_in_other_currency(client: TestClient, shop: Shop) -> None:
    """A rate in EUR is accepted once the store enables EUR."""

    async def enable_eur() -> None:
        store_id = uuid.UUID(shop["id"])
        async with runtime_of(client).tenancy.session(store_id) as s:
            if (
                await s.scalar(select(CurrencySetting.id).where(CurrencySetting.code == "EUR"))
                is None
            ):
                s.add(CurrencySetting(store_id=store_id, code="EUR", is_enabled=True))

    zone = post(client, shop, "/shipping-zones", {"name": "EU", "countries": ["FR"]})
    method = post(
        client, shop, f"/shipping-zones/{zone['id']}/methods", {"name": "Std", "code": "std"}
    )
    rates = f"/shipping-methods/{method['id']}/rates"
    problem(
        client.post(
            url(shop, rates), headers=shop["headers"], json={"currency": "EUR", "amount": 1}
        ),
        422,
        "currency",
    )
    call(client, enable_eur)
    assert post(client, shop, rates, {"currency": "EUR", "amount": 1})["currency"] == "EUR"
