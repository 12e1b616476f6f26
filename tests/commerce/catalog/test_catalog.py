"""Catalog API: nested product writes, search, categories and the storefront, every placement."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import URL

from storefleet.db.urls import libpq_conninfo, with_database
from storefleet.testing import PLACEMENTS, Stores, unique_name

Shop = dict[str, Any]
PROBLEM = "application/problem+json"
COUNTED = (
    "products",
    "product_options",
    "product_option_values",
    "product_variants",
    "prices",
    "inventory",
    "inventory_adjustments",
    "product_images",
    "category_products",
    "categories",
)


# --- helpers shared by the catalog test modules --------------------------------------------


def api(store: Shop, path: str) -> str:
    return f"/api/stores/{store['id']}{path}"


def front(store: Shop) -> dict[str, str]:
    return {"X-Store-Id": str(store["id"])}


def fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    if field is not None:
        assert field in fields(response), response.json()
    body: dict[str, Any] = response.json()
    return body


def word(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tshirt(sku: str | None = None, **extra: Any) -> dict[str, Any]:
    """A product with two options, two variants, prices, stock, images and no category."""
    sku = sku or word("SKU").upper()
    body: dict[str, Any] = {
        "name": "Classic Tee",
        "slug": word("tee"),
        "description": "Soft cotton",
        "status": "active",
        "published": True,
        "vendor": "Acme",
        "tags": ["cotton", "summer"],
        "metadata": {"origin": "PT"},
        "options": [{"name": "Size", "values": ["S", "M"]}, {"name": "Color", "values": ["Red"]}],
        "variants": [
            {
                "sku": f"{sku}-S",
                "option_values": {"Size": "S", "Color": "Red"},
                "weight_grams": 200,
                "prices": [{"currency": "USD", "amount": 1999, "compare_at_amount": 2499}],
                "stock": [{"location_code": "main", "on_hand": 5}],
            },
            {
                "sku": f"{sku}-M",
                "is_default": True,
                "option_values": {"Size": "M", "Color": "Red"},
                "prices": [
                    {"currency": "USD", "amount": 2099},
                    {"currency": "USD", "amount": 1899, "min_quantity": 10},
                ],
                "stock": [{"location_code": "main", "on_hand": 0}],
            },
        ],
        "images": [
            {"url": "https://cdn.example.com/tee-m.jpg", "alt": "M", "variant_sku": f"{sku}-M"},
            {"url": "https://cdn.example.com/tee.jpg", "alt": "front", "position": 5},
        ],
    }
    body.update(extra)
    return body


def make_shops(stores: Stores) -> Callable[[str, str], Shop]:
    cache: dict[tuple[str, str], Shop] = {}

    def get(placement: str, which: str = "main") -> Shop:
        if (placement, which) not in cache:
            cache[(placement, which)] = stores.create(placement)
        return cache[(placement, which)]

    return get


def make_counter(
    pg_server: URL, control_conn: psycopg.Connection
) -> Callable[[Shop], dict[str, int]]:
    """Row counts of the store's catalog tables, read as the superuser (no RLS, no API)."""

    def counts(store: Shop) -> dict[str, int]:
        found = control_conn.execute(
            "SELECT database_name, schema_name FROM store_databases WHERE store_id = %s",
            (store["id"],),
        ).fetchone()
        assert found is not None
        database, schema = found
        url = with_database(pg_server, database)
        with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
            out = {}
            for table in COUNTED:
                query = sql.SQL("SELECT count(*) FROM {}.{} WHERE store_id = %s").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
                row = conn.execute(query, (store["id"],)).fetchone()
                assert row is not None
                out[table] = int(row[0])
            return out

    return counts


# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shops(stores: Stores) -> Callable[[str, str], Shop]:
    return make_shops(stores)


@pytest.fixture(params=PLACEMENTS)
def placement(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shop(shops: Callable[[str, str], Shop], placement: str) -> Shop:
    return shops(placement, "main")


@pytest.fixture
def counts(
    pg_server: URL, control_conn: psycopg.Connection
) -> Iterator[Callable[[Shop], dict[str, int]]]:
    yield make_counter(pg_server, control_conn)


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


# --- categories ---------------------------------------------------------------------------


def test_category_tree_paths_cycles_and_membership(client: TestClient, shop: Shop) -> None:
    headers = shop["headers"]
    tag = unique_name("c").replace("_", "-")

    def create(name: str, parent: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        body = {"name": name, "slug": f"{name}-{tag}", **extra}
        if parent:
            body["parent_id"] = parent["id"]
        response = client.post(api(shop, "/categories"), headers=headers, json=body)
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    a = create("a")
    b = create("b", a)
    c = create("c", b)
    assert (a["path"], b["path"], c["path"]) == (
        a["slug"],
        f"{a['slug']}/{b['slug']}",
        f"{a['slug']}/{b['slug']}/{c['slug']}",
    )

    def get(cat: dict[str, Any]) -> dict[str, Any]:
        return client.get(api(shop, f"/categories/{cat['id']}"), headers=headers).json()  # type: ignore[no-any-return]

    # Move b (and its subtree) to the root, then rename it.
    moved = client.patch(
        api(shop, f"/categories/{b['id']}"), headers=headers, json={"parent_id": None}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["path"] == b["slug"]
    assert get(c)["path"] == f"{b['slug']}/{c['slug']}"
    renamed = client.patch(
        api(shop, f"/categories/{b['id']}"), headers=headers, json={"slug": f"bee-{tag}"}
    )
    assert renamed.json()["path"] == f"bee-{tag}"
    assert get(c)["path"] == f"bee-{tag}/{c['slug']}"
    assert get(a)["path"] == a["slug"]
    # Move under a again: the grandchild follows.
    client.patch(api(shop, f"/categories/{b['id']}"), headers=headers, json={"parent_id": a["id"]})
    assert get(c)["path"] == f"{a['slug']}/bee-{tag}/{c['slug']}"

    # Cycles, duplicates and non-empty deletes are refused, and change nothing.
    snapshot = [get(x) for x in (a, b, c)]
    for target in (a, b):
        assert_problem(
            client.patch(
                api(shop, f"/categories/{target['id']}"),
                headers=headers,
                json={"parent_id": c["id"]},
            ),
            409,
            "parent_id",
        )
    assert_problem(
        client.patch(
            api(shop, f"/categories/{a['id']}"), headers=headers, json={"parent_id": a["id"]}
        ),
        409,
        "parent_id",
    )
    assert_problem(
        client.post(
            api(shop, "/categories"), headers=headers, json={"name": "dup", "slug": a["slug"]}
        ),
        409,
        "slug",
    )
    assert_problem(
        client.patch(
            api(shop, f"/categories/{c['id']}"), headers=headers, json={"slug": a["slug"]}
        ),
        409,
        "slug",
    )
    assert_problem(client.delete(api(shop, f"/categories/{a['id']}"), headers=headers), 409)
    assert_problem(
        client.post(
            api(shop, "/categories"),
            headers=headers,
            json={"name": "orphan", "parent_id": str(uuid.uuid4())},
        ),
        422,
        "parent_id",
    )
    assert [get(x) for x in (a, b, c)] == snapshot

    # Membership with positions; the storefront lists the active tree and its products.
    p1 = client.post(api(shop, "/products"), headers=headers, json=tshirt()).json()
    p2 = client.post(api(shop, "/products"), headers=headers, json=tshirt()).json()
    members_url = api(shop, f"/categories/{c['id']}/products")
    put = client.put(members_url, headers=headers, json={"product_ids": [p2["id"], p1["id"]]})
    assert put.status_code == 200, put.text
    shown = client.get(f"/api/storefront/categories/{c['slug']}/products", headers=front(shop))
    assert shown.status_code == 200, shown.text
    assert {p["id"] for p in shown.json()["items"]} == {p1["id"], p2["id"]}
    assert_problem(
        client.put(
            members_url, headers=headers, json={"product_ids": [p1["id"], str(uuid.uuid4())]}
        ),
        422,
        "product_ids.1",
    )
    tree = client.get("/api/storefront/categories", headers=front(shop)).json()
    root = next(n for n in tree if n["id"] == a["id"])
    assert root["children"][0]["id"] == b["id"]
    assert root["children"][0]["children"][0]["path"] == f"{a['slug']}/bee-{tag}/{c['slug']}"

    # Hiding b hides its subtree from the storefront.
    client.patch(api(shop, f"/categories/{b['id']}"), headers=headers, json={"is_active": False})
    tree = client.get("/api/storefront/categories", headers=front(shop)).json()
    assert next(n for n in tree if n["id"] == a["id"])["children"] == []
    assert_problem(
        client.get(f"/api/storefront/categories/{c['slug']}/products", headers=front(shop)), 404
    )

    # Leaves delete; a deleted category's membership goes with it.
    assert client.delete(api(shop, f"/categories/{c['id']}"), headers=headers).status_code == 204
    assert_problem(client.get(api(shop, f"/categories/{c['id']}"), headers=headers), 404)
