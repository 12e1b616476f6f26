"""What shoppers see of the catalog: visible products (active, published, not deleted) with
prices in the requested currency and stock, and the tree of active categories.

The storefront's hot path (benchmarked): each read is one statement of
``storefront_sql`` on the lean read path (``StoreScope.fetch``: one round trip), whose row
already holds the answer's JSON; here it is checked (currency, 404s) and turned into the
response's bytes with orjson, identical to what the response models would serialize.
"""

from __future__ import annotations

from typing import Any

import orjson

from storefleet.commerce.catalog import storefront_sql as sql
from storefleet.commerce.catalog.categories import CATEGORY_NOT_FOUND
from storefleet.commerce.catalog.products import PRODUCT_NOT_FOUND
from storefleet.errors import InvalidInput, NotFound
from storefleet.tenancy.scope import StoreScope

# Datetimes as the response models write them: UTC as ``Z``.
_DUMPS = orjson.OPT_UTC_Z


def _checked_currency(row: dict[str, Any], requested: str | None) -> str:
    """The answer's currency, else the 422 on ``currency`` the ORM read raised."""
    code = row["currency"]
    if code is not None:
        return str(code)
    if requested is None:
        raise InvalidInput("the store has no default currency", field="currency")
    raise InvalidInput(f"currency {requested} is not enabled for this store", field="currency")


async def product_page(
    scope: StoreScope,
    *,
    currency: str | None,
    country: str | None,
    limit: int,
    offset: int,
    q: str | None = None,
    category: str | None = None,
) -> bytes:
    """A page of visible products (all, one category's, or a search's) as JSON bytes."""
    query = sql.PRODUCTS
    params: dict[str, Any] = {
        "currency": currency,
        "country": country,
        "limit": limit,
        "offset": offset,
    }
    if category is not None:
        query, params["category"] = sql.CATEGORY_PRODUCTS, category
    elif q is not None:
        query, params["q"] = sql.SEARCH, q
    (row,) = await scope.fetch(query, params)
    if not row["found"]:
        raise NotFound(CATEGORY_NOT_FOUND)
    code = _checked_currency(row, currency)
    body = {
        "items": orjson.loads(row["items"]),
        "total": row["total"],
        "limit": limit,
        "offset": offset,
        "currency": code,
    }
    return orjson.dumps(body, option=_DUMPS)


async def product(
    scope: StoreScope, slug: str, *, currency: str | None, country: str | None
) -> bytes:
    """One visible product with its variants' prices and stock, images and categories."""
    (row,) = await scope.fetch(
        sql.PRODUCT, {"slug": slug, "currency": currency, "country": country}
    )
    _checked_currency(row, currency)
    if not row["found"]:
        raise NotFound(PRODUCT_NOT_FOUND)
    body = orjson.loads(row["body"])
    body["published_at"] = row["published_at"]
    return orjson.dumps(body, option=_DUMPS)


async def category_tree(scope: StoreScope) -> bytes:
    """Active categories as a tree; a subtree under an inactive category is hidden too."""
    nodes: dict[str, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for c in await scope.fetch(sql.CATEGORY_TREE):
        node = {
            "id": c["id"],
            "name": c["name"],
            "slug": c["slug"],
            "path": c["path"],
            "description": c["description"],
            "position": c["position"],
            "children": [],
        }
        parent = c["parent_id"]
        if parent is None:
            roots.append(node)
        elif parent in nodes:
            nodes[parent]["children"].append(node)
        else:
            continue
        nodes[c["id"]] = node
    return orjson.dumps(roots)
