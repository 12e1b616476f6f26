"""Catalog search, the storefront's product listing and currencies, every placement."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.commerce.catalog.helpers import (
    Shop,
    api,
    assert_problem,
    front,
    tshirt,
    word,
)


def test_search_by_word_and_by_typo(client: TestClient, shop: Shop) -> None:
    headers = shop["headers"]
    marker = uuid.uuid4().hex[:6]
    made = {}
    for name in ("Shirt", "Oxford Trousers", "Linen Shirt"):
        body = tshirt(name=name, brand=f"brand{marker}", slug=word("s"))
        made[name] = client.post(api(shop, "/products"), headers=headers, json=body).json()["id"]

    def admin(q: str) -> list[str]:
        response = client.get(api(shop, "/products"), headers=headers, params={"q": q})
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    def public(q: str) -> list[str]:
        response = client.get("/api/storefront/search", headers=front(shop), params={"q": q})
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]]

    for search in (admin, public):
        found = search("shirt")
        assert {made["Shirt"], made["Linen Shirt"]} <= set(found)
        assert made["Oxford Trousers"] not in found
        assert found[0] == made["Shirt"]  # exact name ranks first
        assert made["Shirt"] in search("shrit")  # typo
        assert made["Oxford Trousers"] in search("trosers")
        assert set(search(f"brand{marker}")) >= set(made.values())  # brand is in the vector
        assert search(f"zzqx{marker}") == []


def test_storefront_shows_only_live_published_products(client: TestClient, shop: Shop) -> None:
    headers = shop["headers"]
    future = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    cases = {
        "live": {"status": "active", "published": True},
        "draft": {"status": "draft", "published": True},
        "archived": {"status": "archived", "published": True},
        "unpublished": {"status": "active", "published": False},
        "scheduled": {"status": "active", "published_at": future},
        "deleted": {"status": "active", "published": True},
    }
    slugs = {}
    for label, extra in cases.items():
        body = tshirt(**extra)
        body["name"] = f"Vis {label} {uuid.uuid4().hex[:6]}"
        response = client.post(api(shop, "/products"), headers=headers, json=body)
        assert response.status_code == 201, response.text
        slugs[label] = (response.json()["id"], body["slug"])
    client.delete(api(shop, f"/products/{slugs['deleted'][0]}"), headers=headers)

    listed = client.get("/api/storefront/products", headers=front(shop), params={"limit": 100})
    assert listed.status_code == 200, listed.text
    ids = {p["id"] for p in listed.json()["items"]}
    assert slugs["live"][0] in ids
    for label in ("draft", "archived", "unpublished", "scheduled", "deleted"):
        assert slugs[label][0] not in ids, label
        assert_problem(
            client.get(f"/api/storefront/products/{slugs[label][1]}", headers=front(shop)), 404
        )
    item = next(p for p in listed.json()["items"] if p["id"] == slugs["live"][0])
    # The default variant (M) is priced 2099 and has no stock; the primary image comes first.
    assert item["price"] == {"currency": "USD", "amount": 2099, "compare_at_amount": None}
    assert item["in_stock"] is False
    assert item["image"]["url"] == "https://cdn.example.com/tee-m.jpg"

    detail = client.get(f"/api/storefront/products/{slugs['live'][1]}", headers=front(shop))
    assert detail.status_code == 200, detail.text
    variants = {v["option_values"]["Size"]: v for v in detail.json()["variants"]}
    assert (variants["S"]["available"], variants["S"]["in_stock"]) == (5, True)
    assert (variants["M"]["available"], variants["M"]["in_stock"]) == (0, False)
    assert variants["S"]["price"]["compare_at_amount"] == 2499
    assert "cost_amount" not in detail.text and "metadata" not in detail.json()

    default_page = client.get("/api/storefront/products", headers=front(shop)).json()
    assert default_page["limit"] == 20 and default_page["currency"] == "USD"


def test_currencies_and_storefront_currency(client: TestClient, shop: Shop) -> None:
    headers = shop["headers"]
    url = api(shop, "/currencies")
    # Fresh state for the EUR assertions, whichever order the tests ran in.
    client.put(f"{url}/USD", headers=headers, json={"is_default": True})
    client.put(f"{url}/EUR", headers=headers, json={"is_enabled": False})

    assert_problem(
        client.get("/api/storefront/products", headers=front(shop), params={"currency": "EUR"}),
        422,
        "currency",
    )
    assert_problem(
        client.put(f"{url}/XXX", headers=headers, json={"is_enabled": True}), 422, "code"
    )
    assert_problem(
        client.put(f"{url}/USD", headers=headers, json={"is_enabled": False}), 409, "is_enabled"
    )
    assert_problem(
        client.put(f"{url}/USD", headers=headers, json={"is_default": False}), 409, "is_default"
    )
    assert_problem(
        client.put(f"{url}/EUR", headers=headers, json={"is_enabled": False, "is_default": True}),
        409,
    )

    enabled = client.put(
        f"{url}/eur", headers=headers, json={"is_enabled": True, "exchange_rate": "0.91"}
    )
    assert enabled.status_code == 200, enabled.text
    assert enabled.json()["code"] == "EUR" and enabled.json()["is_default"] is False
    body = tshirt()
    body["variants"][1]["prices"].append({"currency": "EUR", "amount": 1900})
    created = client.post(api(shop, "/products"), headers=headers, json=body)
    assert created.status_code == 201, created.text
    page = client.get(
        "/api/storefront/products", headers=front(shop), params={"currency": "EUR", "limit": 100}
    ).json()
    item = next(p for p in page["items"] if p["id"] == created.json()["id"])
    assert item["price"] == {"currency": "EUR", "amount": 1900, "compare_at_amount": None}

    made_default = client.put(f"{url}/EUR", headers=headers, json={"is_default": True})
    assert made_default.status_code == 200, made_default.text
    listed = {c["code"]: c for c in client.get(url, headers=headers).json()}
    assert (listed["EUR"]["is_default"], listed["USD"]["is_default"]) == (True, False)
    assert client.get("/api/storefront/products", headers=front(shop)).json()["currency"] == "EUR"
    assert client.put(f"{url}/USD", headers=headers, json={"is_default": True}).status_code == 200
    assert client.put(f"{url}/EUR", headers=headers, json={"is_enabled": False}).status_code == 200
