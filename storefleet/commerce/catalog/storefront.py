"""Public catalog browsing: products, categories and search, store resolved by Host.

Hot paths (benchmarked): each route is one statement in one round trip
(``storefront_reads``), answered as the JSON bytes its response model would serialize;
``response_model`` stays for the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from storefleet.api.storefront_store import StorefrontStore
from storefleet.api.unit_of_work import Scope
from storefleet.commerce.catalog import storefront_reads as reads
from storefleet.commerce.catalog.schemas import (
    PublicCategory,
    PublicProduct,
    PublicProductPage,
)
from storefleet.commerce.common import CountryCode, CurrencyCode

router = APIRouter(prefix="/api/storefront", tags=["storefront"])
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
Currency = Annotated[CurrencyCode | None, Query()]
Country = Annotated[CountryCode | None, Query()]


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


@router.get("/products", response_model=PublicProductPage)
async def list_products(
    placement: StorefrontStore,
    scope: Scope,
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Response:
    page = await reads.product_page(
        scope, currency=currency, country=country, limit=limit, offset=offset
    )
    return _json(page)


@router.get("/products/{slug}", response_model=PublicProduct)
async def get_product(
    slug: str,
    placement: StorefrontStore,
    scope: Scope,
    currency: Currency = None,
    country: Country = None,
) -> Response:
    return _json(await reads.product(scope, slug, currency=currency, country=country))


@router.get("/categories", response_model=list[PublicCategory])
async def list_categories(placement: StorefrontStore, scope: Scope) -> Response:
    return _json(await reads.category_tree(scope))


@router.get("/categories/{slug}/products", response_model=PublicProductPage)
async def category_products(
    slug: str,
    placement: StorefrontStore,
    scope: Scope,
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Response:
    page = await reads.product_page(
        scope, currency=currency, country=country, limit=limit, offset=offset, category=slug
    )
    return _json(page)


@router.get("/search", response_model=PublicProductPage)
async def search(
    placement: StorefrontStore,
    scope: Scope,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Response:
    page = await reads.product_page(
        scope, currency=currency, country=country, limit=limit, offset=offset, q=q
    )
    return _json(page)
