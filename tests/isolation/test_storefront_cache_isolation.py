"""One store's cached storefront answer is never served for another store, in every placement.

Two stores of the same placement, each with its own product and hostname, are warmed on
the same paths and queries (so both answers sit in the cache under the same path and
query); every later read through a store's ``Host`` (or ``X-Store-Id``) must answer that
store's data, from the cache, and a ``Host`` naming one store with an ``X-Store-Id`` of the
other is refused as before, never answered from either entry.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from storefleet.testing import PLACEMENTS, Stores
from tests.api.test_storefront_cache import cache_of
from tests.commerce.catalog.helpers import Shop, api, tshirt

PATHS = (
    "/api/storefront/store",
    "/api/storefront/products?limit=20&currency=USD",
    "/api/storefront/search?q=Tee",
    "/api/storefront/categories",
)


def shop_with_host(client: TestClient, stores: Stores, placement: str) -> tuple[Shop, str, str]:
    shop = stores.create(placement)
    tag = uuid.uuid4().hex[:8]
    name = f"Tee {tag}"
    made = client.post(
        api(shop, "/products"), headers=shop["headers"], json=tshirt(name=name, slug=f"tee-x-{tag}")
    )
    assert made.status_code == 201, made.text
    category = {"name": f"cat {tag}"}
    assert client.post(api(shop, "/categories"), headers=shop["headers"], json=category).is_success
    host = f"shop-{tag}.example.com"
    claimed = client.post(api(shop, "/hostnames"), headers=shop["headers"], json={"hostname": host})
    assert claimed.status_code == 201, claimed.text
    return shop, host, tag


def body_of(client: TestClient, path: str, headers: dict[str, str]) -> Any:
    answer = client.get(path, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_a_cached_answer_is_only_served_for_its_own_store(
    client: TestClient, stores: Stores, placement: str
) -> None:
    a, host_a, tag_a = shop_with_host(client, stores, placement)
    b, host_b, tag_b = shop_with_host(client, stores, placement)
    cache = cache_of(client)
    for path in PATHS:
        for shop, host, tag, other_tag in ((a, host_a, tag_a, tag_b), (b, host_b, tag_b, tag_a)):
            hits = cache.hits
            for headers in ({"Host": host}, {"Host": host}, {"X-Store-Id": str(shop["id"])}):
                text = str(body_of(client, path, headers))
                assert tag in text or path.endswith("/store"), (path, text)
                assert other_tag not in text, (path, text)
            assert cache.hits >= hits + 2, path  # the second and third came from the cache
        profile_a = body_of(client, PATHS[0], {"Host": host_a})
        profile_b = body_of(client, PATHS[0], {"Host": host_b})
        assert (profile_a["hostname"], profile_b["hostname"]) == (host_a, host_b)
        mixed = client.get(path, headers={"Host": host_a, "X-Store-Id": str(b["id"])})
        assert mixed.status_code == 400, mixed.text
