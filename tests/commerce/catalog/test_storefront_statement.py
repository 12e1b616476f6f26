"""The single-statement storefront reads answer byte for byte what the ORM reads answered.

The ORM version (``storefront_legacy``, the code before issue 12) is mounted beside the
routes under ``/legacy/storefront``; one store per placement gets a catalog that exercises
every rule the statement moved into SQL (sales and override price lists, by country, by
priority, inactive, expired, for a customer group; several currencies; tracked, untracked,
backorderable and sold-out variants; products without variant or image; categories under
an inactive parent; search and pagination), and every request is asked of both.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from tests.commerce.catalog.helpers import Shop, api, tshirt
from tests.commerce.catalog.storefront_legacy import legacy_router

NEW, OLD = "/api/storefront", "/legacy/storefront"


def _mount_legacy(client: TestClient) -> None:
    app: Any = client.app
    if not any(getattr(r, "path", "").startswith(OLD) for r in app.router.routes):
        app.include_router(legacy_router, include_in_schema=False)


def _ok(response: Any, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _catalog(client: TestClient, shop: Shop, tag: str) -> dict[str, Any]:
    """Rules, currencies, categories and products of every kind the statement handles."""
    h = shop["headers"]
    for code, body in (("EUR", {"is_enabled": True}), ("GBP", {"is_enabled": True})):
        _ok(client.put(api(shop, f"/currencies/{code}"), headers=h, json=body), 200)
    rules = api(shop, "/price-rules")
    past = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    made = {
        name: _ok(client.post(rules, headers=h, json={"name": name, **body}))
        for name, body in {
            "sale": {"kind": "sale", "percent_off_bp": 1000},
            "sale-de": {"kind": "sale", "percent_off_bp": 2550, "country": "DE", "priority": 3},
            "sale-group": {"kind": "sale", "percent_off_bp": 5000, "customer_group": "vip"},
            "sale-expired": {"kind": "sale", "percent_off_bp": 9000, "ends_at": past},
            "vip": {"priority": 5},
            "fr": {"priority": 7, "country": "FR"},
            "low": {"priority": -3},
            "off": {"priority": 9, "is_active": False},
        }.items()
    }
    cats = api(shop, "/categories")
    root = _ok(client.post(cats, headers=h, json={"name": "Root", "slug": f"root-{tag}"}))
    child = _ok(
        client.post(
            cats,
            headers=h,
            json={"name": "Child", "slug": f"child-{tag}", "parent_id": root["id"]},
        )
    )
    hidden = _ok(
        client.post(cats, headers=h, json={"name": "Off", "slug": f"off-{tag}", "is_active": False})
    )
    _ok(
        client.post(
            cats,
            headers=h,
            json={"name": "Under", "slug": f"under-{tag}", "parent_id": hidden["id"]},
        )
    )

    def price(amount: int, **extra: Any) -> dict[str, Any]:
        return {"currency": "USD", "amount": amount, **extra}

    tee = tshirt(name=f"Zephyr Tee {tag}", category_ids=[child["id"], hidden["id"]])
    default = tee["variants"][1]
    default["prices"] += [
        {"currency": "EUR", "amount": 1901, "compare_at_amount": 2500},
        price(1500, price_rule_id=made["vip"]["id"]),
        price(1700, compare_at_amount=0, price_rule_id=made["fr"]["id"]),
        price(300, price_rule_id=made["low"]["id"]),
        price(100, price_rule_id=made["off"]["id"]),
    ]
    same_time = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0).isoformat()
    bodies = [
        tee,
        {
            "name": f"Zephyr Untracked {tag}",
            "status": "active",
            "published_at": same_time,
            "brand": "Nimbus",
            "variants": [
                {
                    "sku": f"U-{tag}",
                    "track_inventory": False,
                    "prices": [price(1000, compare_at_amount=0), price(999, min_quantity=2)],
                    "stock": [{"location_code": "main", "on_hand": 0}],
                }
            ],
            "category_ids": [root["id"]],
        },
        {
            "name": f"Zephyr Backorder {tag}",
            "status": "active",
            "published_at": same_time,
            "description": 'Ships later — «déjà vu» \u2028 "quoted" \\ tab\t',
            "variants": [
                {
                    "sku": f"B-{tag}",
                    "allow_backorder": True,
                    "prices": [{"currency": "EUR", "amount": 4321}],
                    "stock": [{"location_code": "main", "on_hand": 0}],
                }
            ],
            "images": [
                {"url": f"https://cdn.example.com/{tag}/b2.jpg", "alt": "second", "position": 2},
                {"url": f"https://cdn.example.com/{tag}/b1.jpg", "alt": "first", "position": 1},
            ],
            "category_ids": [child["id"]],
        },
        {
            "name": f"Zephyr Bare {tag}",
            "status": "active",
            "published": True,
            "images": [{"url": f"https://cdn.example.com/{tag}/bare.jpg"}],
        },
        {
            "name": f"Stocked {tag}",
            "status": "active",
            "published": True,
            "tags": ["a", "b"],
            "variants": [
                {
                    "sku": f"S-{tag}",
                    "prices": [price(777, compare_at_amount=800)],
                    "stock": [{"location_code": "main", "on_hand": 4}],
                }
            ],
        },
        {"name": f"Draft {tag}", "status": "draft", "published": True},
    ]
    bodies += [tshirt(name=f"Filler {i} {tag}") for i in range(4)]
    products = [_ok(client.post(api(shop, "/products"), headers=h, json=b)) for b in bodies]
    return {
        "products": products,
        "rules": made,
        "categories": [root, child, hidden],
        "slugs": [p["slug"] for p in products],
    }


def _requests(tag: str, slugs: list[str]) -> list[str]:
    lists = [
        "",
        "?limit=3",
        "?limit=3&offset=3",
        "?limit=100&offset=9",
        "?offset=500",
        "?currency=EUR",
        "?currency=GBP&limit=4",
        "?currency=JPY",
        "?country=DE",
        "?country=FR&currency=EUR",
        "?country=US",
    ]
    out = [f"/products{q}" for q in lists]
    out += [f"/search?q=zephyr{'&' + q[1:] if q else ''}" for q in lists[:4]]
    out += [
        f"/search?q={tag}",
        "/search?q=zefyr",
        "/search?q=nimbus&country=DE",
        "/search?q=nothing-like-it",
        "/search?q=zephyr&currency=JPY",
        "/categories",
        f"/categories/child-{tag}/products",
        f"/categories/child-{tag}/products?limit=1&offset=1&country=DE",
        f"/categories/root-{tag}/products?currency=EUR",
        f"/categories/off-{tag}/products",
        f"/categories/under-{tag}/products",
        "/categories/no-such-category/products",
        f"/categories/child-{tag}/products?currency=JPY",
        "/categories/no-such-category/products?currency=JPY",
        "/products/no-such-product",
        "/products/no-such-product?currency=JPY",
    ]
    for slug in slugs:
        out += [f"/products/{slug}{q}" for q in ("", "?currency=EUR", "?country=FR", "?country=DE")]
    return out


def _same(client: TestClient, shop: Shop, paths: list[str]) -> int:
    headers = {"X-Store-Id": str(shop["id"])}
    compared = 0
    for path in paths:
        new = client.get(NEW + path, headers=headers)
        old = client.get(OLD + path, headers=headers)
        assert new.status_code == old.status_code, (path, new.text, old.text)
        assert new.headers["content-type"] == old.headers["content-type"], path
        assert new.content == old.content.replace(OLD.encode(), NEW.encode()), (
            path,
            new.text,
            old.text,
        )
        compared += new.status_code == 200
    return compared


def test_single_statement_answers_what_the_orm_answered(
    client: TestClient, shops: Any, placement: str
) -> None:
    _mount_legacy(client)
    shop = shops(placement, "statement")
    tag = uuid.uuid4().hex[:6]
    made = _catalog(client, shop, tag)
    paths = _requests(tag, made["slugs"])
    assert _same(client, shop, paths) > len(paths) // 2

    # Without the store-wide sale, and with the German sale now for everyone.
    h, rules = shop["headers"], api(shop, "/price-rules")
    _ok(
        client.patch(
            f"{rules}/{made['rules']['sale']['id']}", headers=h, json={"is_active": False}
        ),
        200,
    )
    _ok(
        client.patch(
            f"{rules}/{made['rules']['sale-de']['id']}", headers=h, json={"country": None}
        ),
        200,
    )
    _ok(client.put(api(shop, "/currencies/EUR"), headers=h, json={"is_default": True}), 200)
    assert _same(client, shop, paths) > len(paths) // 2
    _ok(client.put(api(shop, "/currencies/USD"), headers=h, json={"is_default": True}), 200)
