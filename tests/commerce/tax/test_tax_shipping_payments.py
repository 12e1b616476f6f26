"""Tax classes and rules, shipping zones/methods/rates, payment methods, in every placement."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from storefleet.commerce.payments import service as payments
from storefleet.commerce.payments.models import PaymentMethod
from storefleet.commerce.pricing.models import CurrencySetting
from storefleet.commerce.shipping import service as shipping
from storefleet.commerce.tax import service as tax
from storefleet.errors import InvalidInput
from storefleet.security.keyring import DecryptionError
from storefleet.testing import PLACEMENTS, Stores, unique_name
from tests.commerce.customers.test_customers import call, problem, runtime_of

Shop = dict[str, Any]


@pytest.fixture(scope="module")
def shops(stores: Stores) -> Callable[[str], Shop]:
    cache: dict[str, Shop] = {}

    def get(placement: str) -> Shop:
        if placement not in cache:
            cache[placement] = stores.create(placement)
        return cache[placement]

    return get


@pytest.fixture(params=PLACEMENTS)
def shop(request: pytest.FixtureRequest, shops: Callable[[str], Shop]) -> Shop:
    return shops(str(request.param))


def url(store: Shop, suffix: str) -> str:
    return f"/api/stores/{store['id']}{suffix}"


def post(client: TestClient, store: Shop, suffix: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url(store, suffix), headers=store["headers"], json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def code() -> str:
    return unique_name("c").replace("_", "-").lower()[:40]


# -- tax -----------------------------------------------------------------------------------


def test_tax_classes_and_rules_crud(client: TestClient, shop: Shop) -> None:
    h = shop["headers"]
    existing = client.get(url(shop, "/tax-classes"), headers=h).json()["items"]
    first = post(client, shop, "/tax-classes", {"name": "Standard", "code": code()})
    assert first["is_default"] is (not existing)
    reduced = post(client, shop, "/tax-classes", {"name": "Reduced", "code": code()})
    assert reduced["is_default"] is False
    problem(
        client.post(
            url(shop, "/tax-classes"), headers=h, json={"name": "Dup", "code": reduced["code"]}
        ),
        409,
        "code",
    )
    problem(
        client.post(url(shop, "/tax-classes"), headers=h, json={"name": "X", "code": "Bad Code"}),
        422,
        "code",
    )
    # Making one default takes it from the other.
    made = client.patch(
        url(shop, f"/tax-classes/{reduced['id']}"), headers=h, json={"is_default": True}
    )
    assert made.status_code == 200 and made.json()["is_default"] is True
    defaults = [c for c in client.get(url(shop, "/tax-classes"), headers=h).json()["items"]]
    assert [c["id"] for c in defaults if c["is_default"]] == [reduced["id"]]
    problem(
        client.patch(
            url(shop, f"/tax-classes/{reduced['id']}"), headers=h, json={"is_default": False}
        ),
        422,
        "is_default",
    )
    problem(
        client.patch(
            url(shop, f"/tax-classes/{first['id']}"), headers=h, json={"code": reduced["code"]}
        ),
        409,
        "code",
    )

    rules = f"/tax-classes/{first['id']}/rules"
    rule = post(client, shop, rules, {"name": "VAT", "country": "de", "rate_bp": 1900})
    assert rule["country"] == "DE" and rule["tax_class_id"] == first["id"]
    for bad, field in (
        ({"country": "DEU", "rate_bp": 1}, "country"),
        ({"country": "DE", "rate_bp": 100_001}, "rate_bp"),
        ({"country": "DE", "rate_bp": -1}, "rate_bp"),
        ({"country": "DE", "rate_bp": 5, "postal_pattern": "10%"}, "postal_pattern"),
        ({"country": "DE", "rate_bp": 5, "tax_id": str(uuid.uuid4())}, "tax_id"),
    ):
        problem(client.post(url(shop, rules), headers=h, json=bad), 422, field)
    patched = client.patch(
        url(shop, f"{rules}/{rule['id']}"), headers=h, json={"rate_bp": 700, "region": "BE"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["rate_bp"] == 700 and patched.json()["region"] == "BE"
    problem(
        client.patch(url(shop, f"{rules}/{rule['id']}"), headers=h, json={"rate_bp": None}), 422
    )
    # A rule is only reachable under its own class.
    problem(
        client.get(url(shop, f"/tax-classes/{reduced['id']}/rules/{rule['id']}"), headers=h), 405
    )
    problem(
        client.patch(
            url(shop, f"/tax-classes/{reduced['id']}/rules/{rule['id']}"),
            headers=h,
            json={"rate_bp": 1},
        ),
        404,
    )
    listed = client.get(url(shop, rules), headers=h).json()["items"]
    assert [r["rate_bp"] for r in listed] == [700]
    assert client.delete(url(shop, f"{rules}/{rule['id']}"), headers=h).status_code == 204
    assert client.get(url(shop, rules), headers=h).json()["items"] == []
    assert client.delete(url(shop, f"/tax-classes/{first['id']}"), headers=h).status_code == 204
    problem(client.get(url(shop, f"/tax-classes/{first['id']}"), headers=h), 404)
    problem(client.get(url(shop, f"/tax-classes/{first['id']}/rules"), headers=h), 404)


def test_tax_rates_from_rules(client: TestClient, shop: Shop) -> None:
    """DE 19% with a postal-pattern 7% that wins, FR 20%, a compound rate on top (CA-QC)."""
    tax_class = post(client, shop, "/tax-classes", {"name": "Rates", "code": code()})
    rules = f"/tax-classes/{tax_class['id']}/rules"
    post(client, shop, rules, {"name": "DE VAT", "country": "DE", "rate_bp": 1900})
    post(
        client,
        shop,
        rules,
        {"name": "Berlin", "country": "DE", "rate_bp": 700, "postal_pattern": "10*"},
    )
    post(client, shop, rules, {"name": "FR TVA", "country": "FR", "rate_bp": 2000})
    post(client, shop, rules, {"name": "GST", "country": "CA", "rate_bp": 500})
    post(
        client,
        shop,
        rules,
        {"name": "QST", "country": "CA", "region": "QC", "rate_bp": 1000, "is_compound": True},
    )
    class_id = uuid.UUID(tax_class["id"])

    async def rates() -> dict[str, tuple[int, int, int]]:
        out: dict[str, tuple[int, int, int]] = {}
        async with runtime_of(client).tenancy.session(uuid.UUID(shop["id"]), write=False) as s:
            for name, address in (
                ("munich", {"country": "DE", "postal_code": "80331"}),
                ("berlin", {"country": "DE", "postal_code": "10 115"}),
                ("paris", {"country": "FR", "postal_code": "75001"}),
                ("montreal", {"country": "CA", "region": "QC"}),
                ("spain", {"country": "ES"}),
            ):
                r = await tax.rates_for(s, class_id, address)
                out[name] = (r.effective_bp, r.tax_on_net(10_000), r.tax_in_gross(11_900))
        return out

    got = call(client, rates)
    assert got["munich"] == (1900, 1900, 1900)
    assert got["berlin"][0:2] == (700, 700)
    assert got["paris"][0:2] == (2000, 2000)
    # Most specific match only: QC's compound region rule, applied on net + nothing else
    # at that specificity -> 10% (GST is less specific and is not chosen).
    assert got["montreal"][0] == 1000
    assert got["spain"] == (0, 0, 0)

    # Same specificity: GST and a compound QST for all CA addresses stack: 1.05 * 1.10.
    post(
        client, shop, rules, {"name": "PST", "country": "CA", "rate_bp": 1000, "is_compound": True}
    )

    async def canada() -> tuple[int, int]:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop["id"]), write=False) as s:
            r = await tax.rates_for(s, class_id, {"country": "CA", "region": "ON"})
            return r.effective_bp, r.tax_on_net(10_000)

    assert call(client, canada) == (1550, 1550)


def test_prices_include_tax_setting(client: TestClient, shop: Shop) -> None:
    h = shop["headers"]
    assert client.get(url(shop, "/tax-settings"), headers=h).json() == {"prices_include_tax": False}
    problem(
        client.put(url(shop, "/tax-settings"), headers=h, json={"prices_include_tax": "maybe"}), 422
    )
    put = client.put(url(shop, "/tax-settings"), headers=h, json={"prices_include_tax": True})
    assert put.status_code == 200 and put.json() == {"prices_include_tax": True}
    assert client.get(url(shop, "/tax-settings"), headers=h).json() == {"prices_include_tax": True}

    async def read() -> bool:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop["id"]), write=False) as s:
            return await tax.prices_include_tax(s)

    assert call(client, read) is True
    client.put(url(shop, "/tax-settings"), headers=h, json={"prices_include_tax": False})
    assert call(client, read) is False


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


# -- payment methods -----------------------------------------------------------------------


def test_payment_method_secret_is_write_only_and_encrypted(
    client: TestClient, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    h = shop["headers"]
    secret = f"sk_test_{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    created = client.post(
        url(shop, "/payment-methods"),
        headers=h,
        json={
            "code": "stripe",
            "provider": "stripe",
            "name": "Card",
            "config": {"publishable_key": "pk_test_1"},
            "secret": secret,
        },
    )
    assert created.status_code == 201, created.text
    method = created.json()
    assert method["has_secret"] is True and "secret" not in method
    assert "secret_ciphertext" not in method
    responses = [
        created,
        client.get(url(shop, "/payment-methods"), headers=h),
        client.get(url(shop, f"/payment-methods/{method['id']}"), headers=h),
        client.patch(
            url(shop, f"/payment-methods/{method['id']}"), headers=h, json={"name": "Cards"}
        ),
        client.post(
            url(shop, "/payment-methods"),
            headers=h,
            json={"code": "stripe", "provider": "stripe", "name": "Dup", "secret": secret},
        ),
        client.post(
            url(shop, "/payment-methods"),
            headers=h,
            json={"code": "x", "provider": "bogus", "name": "X", "secret": secret},
        ),
    ]
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 409, 422]
    for response in responses:
        assert secret not in response.text
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in record.getMessage()

    async def stored() -> tuple[bytes, str | None, uuid.UUID]:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop["id"]), write=False) as s:
            row = (
                await s.execute(
                    select(PaymentMethod).where(PaymentMethod.id == uuid.UUID(method["id"]))
                )
            ).scalar_one()
            assert row.secret_ciphertext is not None
            return (
                bytes(row.secret_ciphertext),
                payments.decrypt_secret(runtime_of(client).keyring, row),
                row.id,
            )

    blob, plain, method_id = call(client, stored)
    assert secret.encode() not in blob
    assert plain == secret
    keyring = runtime_of(client).keyring
    assert keyring.decrypt_text(blob, f"payment_methods:{shop['id']}:{method_id}") == secret
    for wrong in (
        f"payment_methods:{uuid.uuid4()}:{method_id}",
        f"payment_methods:{shop['id']}:{uuid.uuid4()}",
    ):
        with pytest.raises(DecryptionError):
            keyring.decrypt_text(blob, wrong)

    # Replacing the secret re-encrypts; a Stripe method cannot drop it; others can.
    rotated = client.patch(
        url(shop, f"/payment-methods/{method['id']}"), headers=h, json={"secret": "sk_test_new"}
    )
    assert rotated.status_code == 200 and "sk_test_new" not in rotated.text
    assert call(client, stored)[1] == "sk_test_new"
    problem(
        client.patch(
            url(shop, f"/payment-methods/{method['id']}"), headers=h, json={"secret": None}
        ),
        422,
        "secret",
    )
    problem(
        client.post(
            url(shop, "/payment-methods"),
            headers=h,
            json={"code": "s2", "provider": "stripe", "name": "S"},
        ),
        422,
        "secret",
    )
    problem(
        client.post(
            url(shop, "/payment-methods"),
            headers=h,
            json={
                "code": "s3",
                "provider": "manual",
                "name": "S",
                "config": {"secret_key": secret},
            },
        ),
        422,
        "config",
    )
    assert (
        client.delete(url(shop, f"/payment-methods/{method['id']}"), headers=h).status_code == 204
    )


def test_payment_methods_crud_and_checkout_lookup(client: TestClient, shop: Shop) -> None:
    h = shop["headers"]
    bank = post(
        client,
        shop,
        "/payment-methods",
        {
            "code": "bank",
            "provider": "bank_transfer",
            "name": "Bank",
            "instructions": "IBAN DE00",
            "secret": "x-api",
        },
    )
    assert bank["has_secret"] is True and bank["instructions"] == "IBAN DE00"
    cleared = client.patch(
        url(shop, f"/payment-methods/{bank['id']}"), headers=h, json={"secret": None}
    )
    assert cleared.status_code == 200 and cleared.json()["has_secret"] is False
    cod = post(
        client,
        shop,
        "/payment-methods",
        {"code": "cod", "provider": "cash_on_delivery", "name": "COD", "is_active": False},
    )
    problem(
        client.patch(url(shop, f"/payment-methods/{cod['id']}"), headers=h, json={"code": "bank"}),
        409,
        "code",
    )

    async def lookup(method_code: str) -> str:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop["id"]), write=False) as s:
            try:
                return (await payments.active_method(s, method_code)).provider
            except InvalidInput as exc:
                return f"invalid:{exc.field}"

    assert call(client, lookup, "bank") == "bank_transfer"
    assert call(client, lookup, "cod") == "invalid:payment_method"
    assert call(client, lookup, "nope") == "invalid:payment_method"
    listed = client.get(url(shop, "/payment-methods"), headers=h).json()["items"]
    assert {m["code"] for m in listed} == {"bank", "cod"}
    for m in listed:
        assert client.delete(url(shop, f"/payment-methods/{m['id']}"), headers=h).status_code == 204
    problem(client.get(url(shop, f"/payment-methods/{bank['id']}"), headers=h), 404)


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
