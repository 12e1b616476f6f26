"""Catalog categories: tree paths, cycles and membership, every placement."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from storefleet.testing import unique_name
from tests.commerce.catalog.helpers import (
    Shop,
    api,
    assert_problem,
    front,
    tshirt,
)

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
