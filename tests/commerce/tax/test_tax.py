"""Tax classes, rules and rates, and prices including tax, in every placement."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from storefleet.commerce.tax import service as tax
from tests.commerce.admin_api import Shop, code, post, url
from tests.commerce.customers.test_customers import call, problem, runtime_of

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
