"""Public catalog browsing: products, categories and search, store resolved by Host."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from storefleet.api.storefront_store import StorefrontStore
from storefleet.api.unit_of_work import TenantReader
from storefleet.commerce.catalog import storefront_reads as reads
from storefleet.commerce.catalog.schemas import (
    PublicCategory,
    PublicProduct,
    PublicProductPage,
)
from storefleet.commerce.common import CountryCode, CurrencyCode
from storefleet.commerce.pricing.service import PricingContext

router = APIRouter(prefix="/api/storefront", tags=["storefront"])
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
Currency = Annotated[CurrencyCode | None, Query()]
Country = Annotated[CountryCode | None, Query()]


@router.get("/products", response_model=PublicProductPage)
async def list_products(
    placement: StorefrontStore,
    s: TenantReader,
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> PublicProductPage:
    """Hot path (benchmarked): a fixed number of queries whatever the page size."""
    code = await reads.storefront_currency(s, currency)
    rows = await reads.storefront_products(
        s, PricingContext(code, country=country), limit=limit, offset=offset
    )
    return PublicProductPage.of(rows, currency=code)


@router.get("/products/{slug}", response_model=PublicProduct)
async def get_product(
    slug: str,
    placement: StorefrontStore,
    s: TenantReader,
    currency: Currency = None,
    country: Country = None,
) -> PublicProduct:
    code = await reads.storefront_currency(s, currency)
    product = await reads.storefront_product(s, slug, PricingContext(code, country=country))
    return PublicProduct.model_validate(product)


@router.get("/categories", response_model=list[PublicCategory])
async def list_categories(placement: StorefrontStore, s: TenantReader) -> list[PublicCategory]:
    tree = await reads.active_category_tree(s)
    return [PublicCategory.model_validate(node) for node in tree]


@router.get("/categories/{slug}/products", response_model=PublicProductPage)
async def category_products(
    slug: str,
    placement: StorefrontStore,
    s: TenantReader,
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> PublicProductPage:
    category = await reads.active_category(s, slug)
    code = await reads.storefront_currency(s, currency)
    rows = await reads.storefront_products(
        s,
        PricingContext(code, country=country),
        category_id=category.id,
        limit=limit,
        offset=offset,
    )
    return PublicProductPage.of(rows, currency=code)


@router.get("/search", response_model=PublicProductPage)
async def search(
    placement: StorefrontStore,
    s: TenantReader,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> PublicProductPage:
    code = await reads.storefront_currency(s, currency)
    rows = await reads.storefront_products(
        s, PricingContext(code, country=country), q=q, limit=limit, offset=offset
    )
    return PublicProductPage.of(rows, currency=code)
