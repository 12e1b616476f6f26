"""The storefront reads as they were before issue 12 (ORM, seven statements), kept as the
baseline: the equivalence test compares the single-statement routes with these, byte for
byte, and ``bench.storefront_products`` captures and replays their statements.

Mounted under ``/legacy/storefront`` by ``legacy_router``; never part of the product.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.api.storefront_store import StorefrontStore
from storefleet.api.unit_of_work import TenantReader
from storefleet.commerce.catalog.categories import CATEGORY_NOT_FOUND
from storefleet.commerce.catalog.details import (
    categories_of,
    images_of,
    live_variants,
    options_of,
    product_fields,
    variant_fields,
)
from storefleet.commerce.catalog.models import Category, Product, ProductImage, ProductVariant
from storefleet.commerce.catalog.products import PRODUCT_NOT_FOUND
from storefleet.commerce.catalog.schemas import (
    PublicCategory,
    PublicProduct,
    PublicProductPage,
)
from storefleet.commerce.catalog.search import in_category, search_filter
from storefleet.commerce.common import CountryCode, CurrencyCode
from storefleet.commerce.inventory import stock as inventory
from storefleet.commerce.pricing import service as pricing
from storefleet.commerce.pricing.service import PricingContext
from storefleet.db.queries import Rows, paged
from storefleet.errors import InvalidInput, NotFound


class Listed(NamedTuple):
    """A row of the storefront page: the product and its default variant."""

    id: uuid.UUID
    name: str
    slug: str
    vendor: str | None
    brand: str | None
    variant_id: uuid.UUID | None
    track_inventory: bool
    allow_backorder: bool


def visible() -> list[ColumnElement[bool]]:
    """What shoppers see: active, published (not in the future), not deleted."""
    return [
        Product.status == "active",
        Product.published_at.is_not(None),
        Product.published_at <= func.now(),
        Product.live(),
    ]


async def storefront_currency(session: AsyncSession, requested: str | None) -> str:
    """The requested currency when enabled (else 422 on ``currency``), or the default."""
    rows = (
        await session.execute(
            select(
                pricing.CurrencySetting.code,
                pricing.CurrencySetting.is_enabled,
                pricing.CurrencySetting.is_default,
            )
        )
    ).all()
    if requested is None:
        default = next((code for code, _, is_default in rows if is_default), None)
        if default is None:
            raise InvalidInput("the store has no default currency", field="currency")
        return str(default)
    enabled = {code for code, is_enabled, _ in rows if is_enabled}
    if requested not in enabled:
        raise InvalidInput(f"currency {requested} is not enabled for this store", field="currency")
    return requested


def storefront_page(*, q: str | None, category_id: uuid.UUID | None) -> Select[*tuple[Any, ...]]:
    """The visible products in their storefront order, each with its default variant."""
    conditions = visible()
    order: list[Any] = [Product.published_at.desc(), Product.id]
    if category_id is not None:
        conditions.append(in_category(category_id))
    if q:
        condition, rank = search_filter(q)
        conditions.append(condition)
        order = [rank.desc(), Product.id]
    default = ProductVariant
    return (
        select(
            Product.id,
            Product.name,
            Product.slug,
            Product.vendor,
            Product.brand,
            default.id.label("variant_id"),
            default.track_inventory,
            default.allow_backorder,
        )
        .outerjoin(
            default,
            and_(
                default.store_id == Product.store_id,
                default.product_id == Product.id,
                default.is_default,
                default.live(),
            ),
        )
        .where(*conditions)
        .order_by(*order)
    )


def in_stock(track: bool, backorder: bool, units: int) -> bool:
    return not track or backorder or units > 0


def _public_price(currency: str, price: pricing.UnitPrice | None) -> dict[str, Any]:
    return {
        "currency": currency,
        "amount": price.amount if price else None,
        "compare_at_amount": price.compare_at_amount if price else None,
    }


async def storefront_products(
    session: AsyncSession,
    ctx: pricing.PricingContext,
    *,
    q: str | None = None,
    category_id: uuid.UUID | None = None,
    limit: int,
    offset: int,
) -> Rows[dict[str, Any]]:
    """A page of visible products with their default variant's price, stock and first image.

    Batched, never per product: the page (with its total and default variants), the price
    rules and prices (``pricing.unit_prices``), the stock (``inventory.available``), the images.
    """
    page = await paged(
        session, storefront_page(q=q, category_id=category_id), limit=limit, offset=offset
    )
    rows = [Listed(*r) for r in page.items]
    variant_ids = [r.variant_id for r in rows if r.variant_id is not None]
    prices = await pricing.unit_prices(session, dict.fromkeys(variant_ids, 1), ctx)
    tracked = [r.variant_id for r in rows if r.variant_id and r.track_inventory]
    stock = await inventory.available(session, [v for v in tracked if v is not None])
    images: dict[uuid.UUID, dict[str, Any]] = {}
    if rows:
        for product_id, url, alt in await session.execute(
            select(ProductImage.product_id, ProductImage.url, ProductImage.alt)
            .where(ProductImage.product_id.in_([r.id for r in rows]))
            .ext(distinct_on(ProductImage.product_id))
            .order_by(ProductImage.product_id, ProductImage.position, ProductImage.id)
        ):
            images[product_id] = {"url": url, "alt": alt}
    items = [
        {
            "id": r.id,
            "name": r.name,
            "slug": r.slug,
            "vendor": r.vendor,
            "brand": r.brand,
            "price": _public_price(
                ctx.currency, prices.get(r.variant_id) if r.variant_id else None
            ),
            "in_stock": r.variant_id is not None
            and in_stock(r.track_inventory, r.allow_backorder, stock.get(r.variant_id, 0)),
            "image": images.get(r.id),
        }
        for r in rows
    ]
    return Rows(items, page.total, page.limit, page.offset)


async def storefront_product(
    session: AsyncSession, slug: str, ctx: pricing.PricingContext
) -> dict[str, Any]:
    product = await session.scalar(select(Product).where(Product.slug == slug, *visible()))
    if product is None:
        raise NotFound(PRODUCT_NOT_FOUND)
    variants = await live_variants(session, product.id)
    ids = [v.id for v in variants]
    prices = await pricing.unit_prices(session, dict.fromkeys(ids, 1), ctx)
    stock = await inventory.available(session, [v.id for v in variants if v.track_inventory])
    images = await images_of(session, product.id)
    options = (await options_of(session, [product.id])).get(product.id, [])
    categories = [c for c in await categories_of(session, product.id) if c.is_active]
    return {
        **product_fields(product),
        "options": [{"name": o["name"], "values": o["values"]} for o in options],
        "variants": [
            {
                **variant_fields(v),
                "price": _public_price(ctx.currency, prices.get(v.id)),
                "available": stock.get(v.id, 0) if v.track_inventory else None,
                "in_stock": in_stock(v.track_inventory, v.allow_backorder, stock.get(v.id, 0)),
            }
            for v in variants
        ],
        "images": [{"url": i.url, "alt": i.alt, "variant_id": i.variant_id} for i in images],
        "categories": categories,
        "currency": ctx.currency,
    }


async def active_category_tree(session: AsyncSession) -> list[dict[str, Any]]:
    """Active categories as a tree; a subtree under an inactive category is hidden too."""
    rows = (
        await session.execute(
            select(Category)
            .where(Category.is_active)
            .order_by(
                func.length(Category.path) - func.length(func.replace(Category.path, "/", "")),
                Category.position,
                Category.name,
            )
        )
    ).scalars()
    nodes: dict[uuid.UUID, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    for c in rows:
        node = {
            "id": c.id,
            "name": c.name,
            "slug": c.slug,
            "path": c.path,
            "description": c.description,
            "position": c.position,
            "children": [],
        }
        if c.parent_id is None:
            roots.append(node)
        elif c.parent_id in nodes:
            nodes[c.parent_id]["children"].append(node)
        else:
            continue
        nodes[c.id] = node
    return roots


async def active_category(session: AsyncSession, slug: str) -> Category:
    """An active category whose ancestors are all active, by slug; else 404."""
    found = await session.scalar(select(Category).where(Category.slug == slug))
    if found is None or not found.is_active:
        raise NotFound(CATEGORY_NOT_FOUND)
    ancestors = found.path.split("/")[:-1]
    if ancestors:
        inactive = await session.scalar(
            select(func.count())
            .select_from(Category)
            .where(Category.slug.in_(ancestors), Category.is_active.is_(False))
        )
        if inactive:
            raise NotFound(CATEGORY_NOT_FOUND)
    return found


legacy_router = APIRouter(prefix="/legacy/storefront", tags=["storefront"])
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=100_000)]
Currency = Annotated[CurrencyCode | None, Query()]
Country = Annotated[CountryCode | None, Query()]


@legacy_router.get("/products", response_model=PublicProductPage)
async def list_products(
    placement: StorefrontStore,
    s: TenantReader,
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> PublicProductPage:
    """Hot path (benchmarked): a fixed number of queries whatever the page size."""
    code = await storefront_currency(s, currency)
    rows = await storefront_products(
        s, PricingContext(code, country=country), limit=limit, offset=offset
    )
    return PublicProductPage.of(rows, currency=code)


@legacy_router.get("/products/{slug}", response_model=PublicProduct)
async def get_product(
    slug: str,
    placement: StorefrontStore,
    s: TenantReader,
    currency: Currency = None,
    country: Country = None,
) -> PublicProduct:
    code = await storefront_currency(s, currency)
    product = await storefront_product(s, slug, PricingContext(code, country=country))
    return PublicProduct.model_validate(product)


@legacy_router.get("/categories", response_model=list[PublicCategory])
async def list_categories(placement: StorefrontStore, s: TenantReader) -> list[PublicCategory]:
    tree = await active_category_tree(s)
    return [PublicCategory.model_validate(node) for node in tree]


@legacy_router.get("/categories/{slug}/products", response_model=PublicProductPage)
async def category_products(
    slug: str,
    placement: StorefrontStore,
    s: TenantReader,
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> PublicProductPage:
    category = await active_category(s, slug)
    code = await storefront_currency(s, currency)
    rows = await storefront_products(
        s,
        PricingContext(code, country=country),
        category_id=category.id,
        limit=limit,
        offset=offset,
    )
    return PublicProductPage.of(rows, currency=code)


@legacy_router.get("/search", response_model=PublicProductPage)
async def search(
    placement: StorefrontStore,
    s: TenantReader,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    currency: Currency = None,
    country: Country = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> PublicProductPage:
    code = await storefront_currency(s, currency)
    rows = await storefront_products(
        s, PricingContext(code, country=country), q=q, limit=limit, offset=offset
    )
    return PublicProductPage.of(rows, currency=code)
