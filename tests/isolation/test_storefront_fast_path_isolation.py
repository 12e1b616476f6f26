"""The storefront fast path never answers one store's catalog for another store's Host.

Two stores of the same placement, each with its own product, category and hostname; every
catalog read the fast path serves is sent to the fast path itself (not the cache in front
of it) through each store's ``Host`` and ``X-Store-Id``, and must answer that store's data
and none of the other's; a ``Host`` of one with an ``X-Store-Id`` of the other is refused.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from storefleet.testing import PLACEMENTS, Stores
from tests.api.test_fastpath import fast_and_routed
from tests.isolation.test_storefront_cache_isolation import shop_with_host


def _paths(tag: str, category: str) -> tuple[str, ...]:
    return (
        "/api/storefront/products?limit=20",
        "/api/storefront/products?currency=USD",
        f"/api/storefront/products/tee-x-{tag}",
        "/api/storefront/categories",
        f"/api/storefront/categories/{category}/products",
        "/api/storefront/search?q=Tee",
    )


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_the_fast_path_answers_only_the_requested_store(
    client: TestClient, stores: Stores, placement: str
) -> None:
    a, host_a, tag_a = shop_with_host(client, stores, placement)
    b, host_b, tag_b = shop_with_host(client, stores, placement)
    pairs = ((a, host_a, tag_a, b, tag_b), (b, host_b, tag_b, a, tag_a))
    for shop, host, tag, other, other_tag in pairs:
        categories = client.get("/api/storefront/categories", headers={"Host": host}).json()
        for path in _paths(tag, categories[0]["slug"]):
            for headers in ({"Host": host}, {"X-Store-Id": str(shop["id"])}):
                (status, _, body), routed, passed_on = fast_and_routed(client, path, headers)
                assert not passed_on, path
                assert status == 200, (path, body)
                assert tag.encode() in body or path.endswith("/products"), (path, body)
                assert other_tag.encode() not in body, (path, body)
                assert body == routed[2]
            mixed = {"Host": host, "X-Store-Id": str(other["id"])}
            (status, _, body), _, passed_on = fast_and_routed(client, path, mixed)
            assert not passed_on and status == 400, (path, body)
        # A slug of the other store is not found through this store's Host.
        (status, _, _), _, _ = fast_and_routed(
            client, f"/api/storefront/products/tee-x-{other_tag}", {"Host": host}
        )
        assert status == 404
