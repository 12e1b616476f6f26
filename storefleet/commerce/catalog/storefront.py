"""Public catalog browsing: products, categories and search, store resolved by Host."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from storefleet.api.deps import RuntimeDep
from storefleet.api.storefront_store import StorefrontStore
from storefleet.commerce.catalog import service
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
    runtime: RuntimeDep,
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> PublicProductPage:
    """Hot path (benchmarked): a fixed number of queries whatever the page size."""
    async with runtime.tenancy.session(placement, write=False) as s:
        code = await service.storefront_currency(s, currency)
        page = await service.storefront_products(
            s, PricingContext(code, country=country), limit=limit, offset=offset
        )
    return PublicProductPage(**page, limit=limit, offset=offset, currency=code)


@router.get("/products/{slug}", response_model=PublicProduct)
async def get_product(
    slug: str,
    placement: StorefrontStore,
    runtime: RuntimeDep,
    currency: Currency = None,
    country: Country = None,
) -> PublicProduct:
    async with runtime.tenancy.session(placement, write=False) as s:
        code = await service.storefront_currency(s, currency)
        product = await service.storefront_product(s, slug, PricingContext(code, country=country))
        return PublicProduct.model_validate(product)


@router.get("/categories", response_model=list[PublicCategory])
async def list_categories(placement: StorefrontStore, runtime: RuntimeDep) -> list[PublicCategory]:
    async with runtime.tenancy.session(placement, write=False) as s:
        tree = await service.active_category_tree(s)
    return [PublicCategory.model_validate(node) for node in tree]


@router.get("/categories/{slug}/products", response_model=PublicProductPage)
async def category_products(
    slug: str,
    placement: StorefrontStore,
    runtime: RuntimeDep,
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> PublicProductPage:
    async with runtime.tenancy.session(placement, write=False) as s:
        category = await service.active_category(s, slug)
        code = await service.storefront_currency(s, currency)
        page = await service.storefront_products(
            s,
            PricingContext(code, country=country),
            category_id=category.id,
            limit=limit,
            offset=offset,
        )
    return PublicProductPage(**page, limit=limit, offset=offset, currency=code)


@router.get("/search", response_model=PublicProductPage)
async def search(
    placement: StorefrontStore,
    runtime: RuntimeDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> PublicProductPage:
    async with runtime.tenancy.session(placement, write=False) as s:
        code = await service.storefront_currency(s, currency)
        page = await service.storefront_products(
            s, PricingContext(code, country=country), q=q, limit=limit, offset=offset
        )
    return PublicProductPage(**page, limit=limit, offset=offset, currency=code)
