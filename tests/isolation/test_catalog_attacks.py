"""Cross-store attacks on the catalog, pricing and inventory routes, in every placement.

Store A's owner and staff hold valid credentials for A and B's ids; they must get 404 (or a
422 naming the field for an id inside a body) and B's data must not change. The storefront
must not show A's products through B's Host or X-Store-Id, nor B's through A's. Each
refused call is made again on A's own rows (or storefront) and works: the positive control.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.testing import PLACEMENTS, Stores, bearer
from tests.commerce.catalog.helpers import (
    Shop,
    api,
    assert_problem,
    make_counter,
    tshirt,
)
from tests.isolation.attack import Request, refused_then_allowed

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


def created(client: TestClient, url: str, headers: dict[str, str], body: Any) -> dict[str, Any]:
    response = client.post(url, headers=headers, json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def spares(client: TestClient, a: Shop, headers: dict[str, str]) -> dict[str, str]:
    """A's own product, category, price rule and location, for the controls that end them."""
    bodies = {
        "/products": tshirt(),
        "/categories": {"name": f"spare {uuid.uuid4().hex[:8]}"},
        "/price-rules": {"name": "spare", "kind": "sale", "percent_off_bp": 500},
        "/inventory/locations": {"name": "spare", "code": f"sp-{uuid.uuid4().hex[:8]}"},
    }
    return {path: created(client, api(a, path), headers, b)["id"] for path, b in bodies.items()}


def by_id_and_store(
    a: Shop, store: Shop, objects: dict[str, str], product: str, currency: dict[str, bool]
) -> list[Request]:
    """Each object by id under A's path, and ``store``'s catalog routes."""
    calls: list[Request] = []
    for path, object_id in objects.items():
        url = api(a, f"{path}/{object_id}")
        calls += [("GET", url, None), ("PATCH", url, {"name": "pwned"})]
        if path != "/inventory/locations":
            calls.append(("DELETE", url, None))
    calls += [("GET", api(store, path), None) for path in LISTS]
    calls += [
        ("POST", api(store, "/products"), tshirt()),
        ("PUT", api(store, "/currencies/EUR"), currency),
        ("DELETE", api(store, f"/products/{product}"), None),
    ]
    return calls


LISTS = ("/products", "/categories", "/price-rules", "/currencies", "/inventory/locations",
         "/inventory", "/inventory/adjustments")  # fmt: skip


def with_ids(
    a: Shop, product: str, variant: str, ids: dict[str, str], location: str
) -> list[tuple[Request, int, str | None]]:
    """Calls on A's routes that carry ``ids`` (a category, a location, a variant, a price
    rule, a product) in the body or path, ``variant`` being one of ``product``'s; with B's
    ids each is refused with the status and field given, with A's own each works."""
    stock = tshirt()
    stock["variants"][0]["stock"] = [{"location_id": ids["location"], "on_hand": 99}]
    priced = tshirt()
    priced["variants"][0]["prices"][0]["price_rule_id"] = ids["rule"]
    adjust = api(a, "/inventory/adjustments")
    product_url = api(a, f"/products/{product}")
    return [
        (("PATCH", product_url, {"category_ids": [ids["category"]]}), 422, "category_ids.0"),
        (("POST", api(a, "/products"), tshirt(category_ids=[ids["category"]])), 422,
         "category_ids.0"),
        (("POST", api(a, "/products"), stock), 422, "variants.0.stock.0.location_id"),
        (("PATCH", product_url, {"variants": [{"id": variant, "sku": uuid.uuid4().hex}]}),
         422, "variants.0.id"),
        (("PATCH", product_url, {"remove_variant_ids": [variant]}), 422,
         "remove_variant_ids.0"),
        (("POST", api(a, "/products"), priced), 422, "variants.0.prices.0.price_rule_id"),
        (("PUT", api(a, f"/categories/{ids['own_category']}/products"),
          {"product_ids": [ids["product"]]}), 422, "product_ids.0"),
        (("PUT", api(a, f"/categories/{ids['category']}/products"),
          {"product_ids": [ids["own_product"]]}), 404, None),
        (("POST", api(a, "/categories"), {"name": f"child {uuid.uuid4().hex[:6]}",
                                          "parent_id": ids["category"]}), 422, "parent_id"),
        (("POST", adjust, {"variant_id": ids["own_variant"], "location_id": ids["location"],
                           "delta": 5, "reason": "received"}), 404, "location_id"),
        (("POST", adjust, {"variant_id": ids["variant"], "location_id": location, "delta": 5,
                           "reason": "received"}), 404, "variant_id"),
    ]  # fmt: skip


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_admin_cannot_reach_another_stores_catalog(
    client: TestClient,
    pairs: Callable[[str], tuple[Shop, Shop]],
    pg_server: URL,
    control_conn: psycopg.Connection,
    placement: str,
) -> None:
    """A's owner and staff on B's catalog: 404, or 422 naming the field for B's id in a
    body. Each call is then made by the same caller on A's own rows and works (deletes on
    spare rows of A)."""
    a, b = pairs(placement)
    counts = make_counter(pg_server, control_conn)
    before, rows_before = snapshot(client, b), counts(b)
    theirs, ours = b["seed"], a["seed"]
    their_variant = theirs["product"]["variants"][0]["id"]
    objects = {
        "/products": theirs["product"]["id"],
        "/categories": theirs["category"]["id"],
        "/price-rules": theirs["rule"]["id"],
        "/inventory/locations": theirs["location"]["id"],
    }
    mine = ours["product"]
    main_id = next(s["location_id"] for s in mine["variants"][0]["stock"])
    for headers in (a["headers"], ours["staff"]):
        # B's ids through A's store path: exactly like missing ids; and B's store path.
        own = spares(client, a, headers)
        refused_then_allowed(
            client,
            by_id_and_store(a, b, objects, theirs["product"]["id"], {"is_default": True}),
            headers,
            by_id_and_store(a, a, own, own["/products"], {"is_enabled": True}),
            headers,
        )

        # B's ids inside A's bodies (and one in A's path); A's own ids there work.
        product = created(client, api(a, "/products"), headers, tshirt())
        common = {"own_category": ours["category"]["id"], "own_product": mine["id"],
                  "own_variant": mine["variants"][0]["id"]}  # fmt: skip
        their_ids = {
            "category": theirs["category"]["id"], "location": theirs["location"]["id"],
            "rule": theirs["rule"]["id"], "product": theirs["product"]["id"],
            "variant": their_variant, **common,
        }  # fmt: skip
        our_ids = {
            "category": ours["category"]["id"], "location": ours["location"]["id"],
            "rule": ours["rule"]["id"], "product": mine["id"],
            "variant": mine["variants"][0]["id"], **common,
        }  # fmt: skip
        attacks = with_ids(a, mine["id"], their_variant, their_ids, main_id)
        controls = with_ids(a, product["id"], product["variants"][0]["id"], our_ids, main_id)
        for (attack, status, field), (control, _, _) in zip(attacks, controls, strict=True):
            [response] = refused_then_allowed(
                client, [attack], headers, [control], headers, status=status
            )
            assert_problem(response, status, field)

        adjust = api(a, "/inventory/adjustments")
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
            in_mine = client.get(
                f"/api/storefront/categories/{mine['category']['slug']}/products", headers=signal
            )
            assert in_mine.status_code == 200, in_mine.text
            assert mine["product"]["id"] in {p["id"] for p in in_mine.json()["items"]}
        # Conflicting signals are refused, never guessed.
        assert_problem(
            client.get(
                "/api/storefront/products",
                headers={"Host": mine["host"], "X-Store-Id": str(other["id"])},
            ),
            400,
        )
        # A staff token of one store cannot browse the other store's storefront; its own, yes.
        refused_then_allowed(
            client,
            [("GET", "/api/storefront/products", None)],
            {**mine["staff"], "X-Store-Id": str(other["id"])},
            [("GET", "/api/storefront/products", None)],
            {**mine["staff"], "X-Store-Id": str(me["id"])},
            status=400,
        )
