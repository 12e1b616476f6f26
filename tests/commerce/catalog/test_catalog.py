"""Catalog API: nested product writes, uniqueness and patches, every placement."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.commerce.catalog.helpers import (
    Shop,
    api,
    assert_problem,
    fields,
    tshirt,
    word,
)

# --- products -----------------------------------------------------------------------------


def test_nested_create_round_trip(client: TestClient, shop: Shop) -> None:
    headers = shop["headers"]
    category = client.post(api(shop, "/categories"), headers=headers, json={"name": "Tops"})
    assert category.status_code == 201, category.text
    body = tshirt(category_ids=[category.json()["id"]])
    created = client.post(api(shop, "/products"), headers=headers, json=body)
    assert created.status_code == 201, created.text
    product = created.json()
    assert client.get(api(shop, f"/products/{product['id']}"), headers=headers).json() == product

    assert (product["name"], product["slug"], product["status"]) == (
        "Classic Tee",
        body["slug"],
        "active",
    )
    assert product["published_at"] is not None
    assert product["metadata"] == {"origin": "PT"} and product["tags"] == ["cotton", "summer"]
    assert [(o["name"], o["values"]) for o in product["options"]] == [
        ("Size", ["S", "M"]),
        ("Color", ["Red"]),
    ]
    small, medium = product["variants"]
    assert (small["sku"], small["title"], small["is_default"]) == (
        body["variants"][0]["sku"],
        "S / Red",
        False,
    )
    assert medium["is_default"] is True
    assert [(p["currency"], p["amount"], p["compare_at_amount"]) for p in small["prices"]] == [
        ("USD", 1999, 2499)
    ]
    assert sorted(p["min_quantity"] for p in medium["prices"]) == [1, 10]
    assert [(s["location_code"], s["on_hand"], s["available"]) for s in small["stock"]] == [
        ("main", 5, 5)
    ]
    assert [i["url"] for i in product["images"]] == [
        "https://cdn.example.com/tee-m.jpg",
        "https://cdn.example.com/tee.jpg",
    ]
    assert [i["position"] for i in product["images"]] == [0, 5]
    tagged = {i["alt"]: i["variant_id"] for i in product["images"]}
    assert tagged == {"M": medium["id"], "front": None}
    assert [c["slug"] for c in product["categories"]] == [category.json()["slug"]]

    # A product without variants gets exactly one default variant; the slug comes from the name.
    plain = client.post(api(shop, "/products"), headers=headers, json={"name": "Gift Card!"})
    assert plain.status_code == 201, plain.text
    again = client.post(api(shop, "/products"), headers=headers, json={"name": "Gift Card!"})
    assert (plain.json()["slug"], again.json()["slug"]) == ("gift-card", "gift-card-2")
    [variant] = plain.json()["variants"]
    assert (variant["is_default"], variant["title"], plain.json()["status"]) == (
        True,
        "Default",
        "draft",
    )

    listed = client.get(
        api(shop, "/products"), headers=headers, params={"tag": "summer", "sort": "name"}
    )
    assert listed.status_code == 200, listed.text
    assert product["id"] in [p["id"] for p in listed.json()["items"]]
    assert plain.json()["id"] not in [p["id"] for p in listed.json()["items"]]
    by_category = client.get(
        api(shop, "/products"), headers=headers, params={"category_id": category.json()["id"]}
    ).json()
    assert [p["id"] for p in by_category["items"]] == [product["id"]] and by_category["total"] == 1
    assert_problem(
        client.get(api(shop, "/products"), headers=headers, params={"sort": "metadata"}),
        422,
        "sort",
    )


BAD_BODIES: list[tuple[str, Callable[[dict[str, Any]], None], int]] = [
    (
        "variants.0.prices.0.currency",
        lambda b: b["variants"][0]["prices"].insert(0, {"currency": "EUR", "amount": 1}),
        422,
    ),
    (
        "variants.1.option_values",
        lambda b: b["variants"][1].update(option_values={"Size": "XL", "Color": "Red"}),
        422,
    ),
    (
        "variants.1.option_values",
        lambda b: b["variants"][1].update(option_values={"Size": "M"}),
        422,
    ),
    ("tax_class_id", lambda b: b.update(tax_class_id=str(uuid.uuid4())), 422),
    ("category_ids.0", lambda b: b.update(category_ids=[str(uuid.uuid4())]), 422),
    ("images.0.url", lambda b: b["images"][0].update(url="javascript:alert(1)"), 422),
    ("images.1.variant_sku", lambda b: b["images"][1].update(variant_sku="NOPE"), 422),
    ("metadata", lambda b: b.update(metadata={"x": "y" * 70_000}), 422),
    (
        "variants.1.stock.0.location_code",
        lambda b: b["variants"][1].update(stock=[{"location_code": "nowhere", "on_hand": 1}]),
        422,
    ),
    ("variants.0.prices.0.amount", lambda b: b["variants"][0]["prices"][0].update(amount=-1), 422),
    ("variants.1.sku", lambda b: b["variants"][1].update(sku=b["variants"][0]["sku"]), 409),
    ("variants.1.is_default", lambda b: b["variants"][0].update(is_default=True), 422),
    ("store_id", lambda b: b.update(store_id=str(uuid.uuid4())), 422),
]


@pytest.mark.parametrize(("field", "spoil", "status"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_nested_write_names_field_and_writes_nothing(
    client: TestClient,
    shops: Callable[[str, str], Shop],
    counts: Callable[[Shop], dict[str, int]],
    field: str,
    spoil: Callable[[dict[str, Any]], None],
    status: int,
) -> None:
    # One placement per case keeps the module fast; every case runs against the pool, and
    # the whole list runs in each placement in test_bad_writes_every_placement.
    shop = shops("pool", "main")
    body = tshirt()
    spoil(body)
    before = counts(shop)
    response = client.post(api(shop, "/products"), headers=shop["headers"], json=body)
    if field == "variants.1.is_default":
        assert_problem(response, status)
        assert fields(response)[0].startswith("variants.")
    else:
        assert_problem(response, status, field)
    assert counts(shop) == before


def test_bad_writes_every_placement(
    client: TestClient, shop: Shop, counts: Callable[[Shop], dict[str, int]]
) -> None:
    before = counts(shop)
    for field, spoil, status in BAD_BODIES[:4]:
        body = tshirt()
        spoil(body)
        response = client.post(api(shop, "/products"), headers=shop["headers"], json=body)
        assert_problem(response, status, field)
    assert counts(shop) == before
    # A valid write after the failures is whole.
    assert (
        client.post(api(shop, "/products"), headers=shop["headers"], json=tshirt()).status_code
        == 201
    )
    after = counts(shop)
    assert after["products"] == before["products"] + 1
    assert after["product_variants"] == before["product_variants"] + 2
    assert after["prices"] == before["prices"] + 3


def test_sku_and_slug_unique_and_reusable_after_soft_delete(
    client: TestClient, shop: Shop, counts: Callable[[Shop], dict[str, int]]
) -> None:
    headers = shop["headers"]
    first = client.post(api(shop, "/products"), headers=headers, json=tshirt("DUP"))
    assert first.status_code == 201, first.text
    slug = first.json()["slug"]

    before = counts(shop)
    clash = client.post(api(shop, "/products"), headers=headers, json=tshirt("DUP"))
    assert_problem(clash, 409, "variants.0.sku")
    same_slug = client.post(api(shop, "/products"), headers=headers, json=tshirt(slug=slug))
    assert_problem(same_slug, 409, "slug")
    barcode = tshirt()
    barcode["variants"][0]["barcode"] = barcode["variants"][1]["barcode"] = "4006381333931"
    assert_problem(
        client.post(api(shop, "/products"), headers=headers, json=barcode),
        409,
        "variants.1.barcode",
    )
    assert counts(shop) == before

    gone = client.delete(api(shop, f"/products/{first.json()['id']}"), headers=headers)
    assert gone.status_code == 204
    assert_problem(client.get(api(shop, f"/products/{first.json()['id']}"), headers=headers), 404)
    assert_problem(
        client.delete(api(shop, f"/products/{first.json()['id']}"), headers=headers), 404
    )
    listed = client.get(api(shop, "/products"), headers=headers, params={"limit": 200}).json()
    assert first.json()["id"] not in [p["id"] for p in listed["items"]]

    reused = client.post(api(shop, "/products"), headers=headers, json=tshirt("DUP", slug=slug))
    assert reused.status_code == 201, reused.text
    assert reused.json()["variants"][0]["sku"] == "DUP-S"


def test_patch_semantics(
    client: TestClient, shop: Shop, counts: Callable[[Shop], dict[str, int]]
) -> None:
    headers = shop["headers"]
    product = client.post(api(shop, "/products"), headers=headers, json=tshirt()).json()
    url = api(shop, f"/products/{product['id']}")
    small, medium = product["variants"]

    # Options grow, one variant is edited, one added, one removed, the default moves.
    patch = {
        "name": "Classic Tee II",
        "options": [
            {"name": "Size", "values": ["S", "M", "L"]},
            {"name": "Color", "values": ["Red"]},
        ],
        "variants": [
            {
                "id": small["id"],
                "is_default": True,
                "prices": [{"currency": "USD", "amount": 1500}],
                "stock": [{"location_code": "main", "on_hand": 7}],
            },
            {
                "sku": word("L").upper(),
                "option_values": {"Size": "L", "Color": "Red"},
                "prices": [{"currency": "USD", "amount": 2500}],
            },
        ],
        "remove_variant_ids": [medium["id"]],
        "images": [],
    }
    patched = client.patch(url, headers=headers, json=patch)
    assert patched.status_code == 200, patched.text
    out = patched.json()
    assert out["name"] == "Classic Tee II" and out["slug"] == product["slug"]
    assert out["description"] == "Soft cotton" and out["images"] == []
    assert [o["values"] for o in out["options"]] == [["S", "M", "L"], ["Red"]]
    by_id = {v["id"]: v for v in out["variants"]}
    assert set(by_id) - {small["id"]} and medium["id"] not in by_id
    assert by_id[small["id"]]["is_default"] is True
    assert sum(v["is_default"] for v in out["variants"]) == 1
    assert [p["amount"] for p in by_id[small["id"]]["prices"]] == [1500]
    assert by_id[small["id"]]["stock"][0]["on_hand"] == 7
    assert by_id[small["id"]]["sku"] == small["sku"]  # unsent fields unchanged
    assert client.get(url, headers=headers).json() == out

    # The removed variant's SKU is free again.
    freed = tshirt(medium["sku"].removesuffix("-M"))
    freed["variants"][0]["sku"] = "OTHER-" + word()
    assert client.post(api(shop, "/products"), headers=headers, json=freed).status_code == 201

    # Bad patches change nothing.
    before = counts(shop)
    shrink = {"options": [{"name": "Size", "values": ["S"]}, {"name": "Color", "values": ["Red"]}]}
    assert_problem(client.patch(url, headers=headers, json=shrink), 422, "options")
    assert_problem(
        client.patch(url, headers=headers, json={"name": "X", "variants": [{"id": medium["id"]}]}),
        422,
        "variants.0.id",
    )
    all_ids = list(by_id)
    assert_problem(
        client.patch(url, headers=headers, json={"remove_variant_ids": all_ids}),
        422,
        "remove_variant_ids",
    )
    assert_problem(client.patch(url, headers=headers, json={"status": None}), 422, "status")
    assert_problem(client.patch(url, headers=headers, json={"slug": "Bad Slug"}), 422, "slug")
    assert counts(shop) == before
    assert client.get(url, headers=headers).json() == out
    assert_problem(
        client.patch(api(shop, f"/products/{uuid.uuid4()}"), headers=headers, json={"name": "x"}),
        404,
    )
