"""Cross-store attacks on the catalog, pricing and inventory routes, in every placement.

Store A's owner and staff hold valid credentials for A and B's ids; they must get 404 (or a
422 naming the field for an id inside a body) and B's data must not change. The storefront
must not show A's products through B's Host or X-Store-Id, nor B's through A's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from tests.commerce.test_catalog import (
    Shop,
    api,
    assert_problem,
    make_counter,
    tshirt,
)
from tests.conftest import PLACEMENTS, Stores, bearer

STAFF_PASSWORD = "Staff-Passw0rd!x"


def seed(client: TestClient, store: Shop) -> dict[str, Any]:
    """A product, category, price rule and location in ``store``, and a staff login."""
    headers = store["headers"]
    tag = uuid.uuid4().hex[:8]
    category = client.post(
        api(store, "/categories"), headers=headers, json={"name": f"cat {tag}"}
    ).json()
    product = client.post(
        api(store, "/products"),
        headers=headers,
        json=tshirt(category_ids=[category["id"]], name=f"Tee {tag}"),
    ).json()
    rule = client.post(
        api(store, "/price-rules"),
        headers=headers,
        json={"name": "sale", "kind": "sale", "percent_off_bp": 1000, "country": "FR"},
    ).json()
    location = client.post(
        api(store, "/inventory/locations"),
        headers=headers,
        json={"name": "wh", "code": f"wh-{tag}"},
    ).json()
    email = f"staff-{tag}@example.com"
    added = client.post(
        api(store, "/staff"),
        headers=headers,
        json={
            "email": email,
            "first_name": "S",
            "last_name": "T",
            "role": "admin",
            "password": STAFF_PASSWORD,
        },
    )
    assert added.status_code == 201, added.text
    login = client.post(
        "/api/auth/staff/login",
        json={"store_id": store["id"], "email": email, "password": STAFF_PASSWORD},
    )
    assert login.status_code == 200, login.text
    host = f"shop-{tag}.example.com"
    made = client.post(api(store, "/hostnames"), headers=headers, json={"hostname": host})
    assert made.status_code == 201, made.text
    return {
        "product": product,
        "category": category,
        "rule": rule,
        "location": location,
        "staff": bearer(login.json()["token"]),
        "host": host,
    }


@pytest.fixture(scope="module")
def pairs(client: TestClient, stores: Stores) -> Callable[[str], tuple[Shop, Shop]]:
    cache: dict[str, tuple[Shop, Shop]] = {}

    def get(placement: str) -> tuple[Shop, Shop]:
        if placement not in cache:
            a, b = stores.create(placement), stores.create(placement)
            a["seed"], b["seed"] = seed(client, a), seed(client, b)
            cache[placement] = (a, b)
        return cache[placement]

    return get


def snapshot(client: TestClient, b: Shop) -> dict[str, Any]:
    """B's objects as B's owner sees them."""
    s, h = b["seed"], b["headers"]
    return {
        "product": client.get(api(b, f"/products/{s['product']['id']}"), headers=h).json(),
        "category": client.get(api(b, f"/categories/{s['category']['id']}"), headers=h).json(),
        "rule": client.get(api(b, f"/price-rules/{s['rule']['id']}"), headers=h).json(),
        "location": client.get(
            api(b, f"/inventory/locations/{s['location']['id']}"), headers=h
        ).json(),
        "adjustments": client.get(api(b, "/inventory/adjustments"), headers=h).json(),
        "currencies": client.get(api(b, "/currencies"), headers=h).json(),
    }


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_admin_cannot_reach_another_stores_catalog(
    client: TestClient,
    pairs: Callable[[str], tuple[Shop, Shop]],
    pg_server: URL,
    control_conn: psycopg.Connection,
    placement: str,
) -> None:
    a, b = pairs(placement)
    counts = make_counter(pg_server, control_conn)
    before, rows_before = snapshot(client, b), counts(b)
    theirs = b["seed"]
    their_variant = theirs["product"]["variants"][0]["id"]
    objects = {
        "/products": theirs["product"]["id"],
        "/categories": theirs["category"]["id"],
        "/price-rules": theirs["rule"]["id"],
        "/inventory/locations": theirs["location"]["id"],
    }
    for headers in (a["headers"], a["seed"]["staff"]):
        # B's ids through A's store path: exactly like missing ids.
        for path, object_id in objects.items():
            url = api(a, f"{path}/{object_id}")
            assert_problem(client.get(url, headers=headers), 404)
            assert_problem(client.patch(url, headers=headers, json={"name": "pwned"}), 404)
            if path != "/inventory/locations":
                assert_problem(client.delete(url, headers=headers), 404)
        # B's store path with A's credentials.
        for path in (
            "/products",
            "/categories",
            "/price-rules",
            "/currencies",
            "/inventory/locations",
            "/inventory",
            "/inventory/adjustments",
        ):
            assert_problem(client.get(api(b, path), headers=headers), 404)
        assert_problem(client.post(api(b, "/products"), headers=headers, json=tshirt()), 404)
        assert_problem(
            client.put(api(b, "/currencies/EUR"), headers=headers, json={"is_default": True}), 404
        )
        assert_problem(
            client.delete(api(b, f"/products/{theirs['product']['id']}"), headers=headers), 404
        )

        # B's ids inside A's bodies.
        mine = a["seed"]["product"]
        assert_problem(
            client.patch(
                api(a, f"/products/{mine['id']}"),
                headers=headers,
                json={"category_ids": [theirs["category"]["id"]]},
            ),
            422,
            "category_ids.0",
        )
        assert_problem(
            client.post(
                api(a, "/products"),
                headers=headers,
                json=tshirt(category_ids=[theirs["category"]["id"]]),
            ),
            422,
            "category_ids.0",
        )
        stolen_stock = tshirt()
        stolen_stock["variants"][0]["stock"] = [
            {"location_id": theirs["location"]["id"], "on_hand": 99}
        ]
        assert_problem(
            client.post(api(a, "/products"), headers=headers, json=stolen_stock),
            422,
            "variants.0.stock.0.location_id",
        )
        assert_problem(
            client.patch(
                api(a, f"/products/{mine['id']}"),
                headers=headers,
                json={"variants": [{"id": their_variant, "sku": "X"}]},
            ),
            422,
            "variants.0.id",
        )
        assert_problem(
            client.patch(
                api(a, f"/products/{mine['id']}"),
                headers=headers,
                json={"remove_variant_ids": [their_variant]},
            ),
            422,
            "remove_variant_ids.0",
        )
        priced = tshirt()
        priced["variants"][0]["prices"][0]["price_rule_id"] = theirs["rule"]["id"]
        assert_problem(
            client.post(api(a, "/products"), headers=headers, json=priced),
            422,
            "variants.0.prices.0.price_rule_id",
        )
        assert_problem(
            client.put(
                api(a, f"/categories/{a['seed']['category']['id']}/products"),
                headers=headers,
                json={"product_ids": [theirs["product"]["id"]]},
            ),
            422,
            "product_ids.0",
        )
        assert_problem(
            client.put(
                api(a, f"/categories/{theirs['category']['id']}/products"),
                headers=headers,
                json={"product_ids": [mine["id"]]},
            ),
            404,
        )
        assert_problem(
            client.post(
                api(a, "/categories"),
                headers=headers,
                json={"name": "child", "parent_id": theirs["category"]["id"]},
            ),
            422,
            "parent_id",
        )

        # Stock at B's location or for B's variant.
        adjust = api(a, "/inventory/adjustments")
        mine_variant = mine["variants"][0]["id"]
        assert_problem(
            client.post(
                adjust,
                headers=headers,
                json={
                    "variant_id": mine_variant,
                    "location_id": theirs["location"]["id"],
                    "delta": 5,
                    "reason": "received",
                },
            ),
            404,
            "location_id",
        )
        main_id = next(s["location_id"] for s in mine["variants"][0]["stock"])
        assert_problem(
            client.post(
                adjust,
                headers=headers,
                json={
                    "variant_id": their_variant,
                    "location_id": main_id,
                    "delta": 5,
                    "reason": "received",
                },
            ),
            404,
            "variant_id",
        )
        levels = client.get(
            api(a, "/inventory"), headers=headers, params={"variant_id": their_variant}
        )
        assert levels.status_code == 200 and levels.json()["items"] == []
        history = client.get(adjust, headers=headers, params={"variant_id": their_variant})
        assert history.status_code == 200 and history.json()["total"] == 0
        found = client.get(
            api(a, "/products"),
            headers=headers,
            params={"q": theirs["product"]["name"], "limit": 200},
        ).json()
        assert theirs["product"]["id"] not in [p["id"] for p in found["items"]]

    assert snapshot(client, b) == before
    assert counts(b) == rows_before


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_storefront_shows_only_the_resolved_store(
    client: TestClient, pairs: Callable[[str], tuple[Shop, Shop]], placement: str
) -> None:
    a, b = pairs(placement)
    for me, other in ((a, b), (b, a)):
        mine, theirs = me["seed"], other["seed"]
        for signal in ({"Host": mine["host"]}, {"X-Store-Id": str(me["id"])}):
            listed = client.get("/api/storefront/products", headers=signal, params={"limit": 100})
            assert listed.status_code == 200, listed.text
            ids = {p["id"] for p in listed.json()["items"]}
            assert mine["product"]["id"] in ids and theirs["product"]["id"] not in ids
            assert_problem(
                client.get(f"/api/storefront/products/{theirs['product']['slug']}", headers=signal),
                404,
            )
            assert (
                client.get(
                    f"/api/storefront/products/{mine['product']['slug']}", headers=signal
                ).status_code
                == 200
            )
            searched = client.get(
                "/api/storefront/search", headers=signal, params={"q": theirs["product"]["name"]}
            ).json()
            assert theirs["product"]["id"] not in {p["id"] for p in searched["items"]}
            tree = client.get("/api/storefront/categories", headers=signal).json()
            assert theirs["category"]["id"] not in {n["id"] for n in tree}
            assert mine["category"]["id"] in {n["id"] for n in tree}
            assert_problem(
                client.get(
                    f"/api/storefront/categories/{theirs['category']['slug']}/products",
                    headers=signal,
                ),
                404,
            )
        # Conflicting signals are refused, never guessed.
        assert_problem(
            client.get(
                "/api/storefront/products",
                headers={"Host": mine["host"], "X-Store-Id": str(other["id"])},
            ),
            400,
        )
        # A staff token of one store cannot browse the other store's storefront.
        assert_problem(
            client.get(
                "/api/storefront/products",
                headers={**mine["staff"], "X-Store-Id": str(other["id"])},
            ),
            400,
        )
