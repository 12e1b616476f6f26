"""The parts of a product a nested write replaces: options, each variant's prices and stock,
images and category memberships.

Each part is validated (unknown price rule, location, SKU or category; duplicates) as it is
replaced, inside the caller's transaction, so a bad part rolls the whole write back.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.catalog.models import (
    Category,
    CategoryProduct,
    Product,
    ProductImage,
    ProductOption,
    ProductOptionValue,
)
from storefleet.commerce.catalog.schemas import ImageIn, OptionIn, PriceIn, StockIn
from storefleet.commerce.catalog.variants import Plan
from storefleet.commerce.inventory import stock as inventory
from storefleet.commerce.inventory.models import InventoryLocation
from storefleet.commerce.pricing import service as pricing
from storefleet.commerce.pricing.models import Price, PriceRule
from storefleet.db.constraints import flush
from storefleet.db.ids import uuid7
from storefleet.errors import Conflict, InvalidInput


async def write_children(
    session: AsyncSession,
    store_id: uuid.UUID,
    product: Product,
    plans: dict[uuid.UUID, Plan],
    *,
    options: list[OptionIn],
    replace_options: bool,
    images: list[ImageIn] | None,
    category_ids: list[uuid.UUID] | None,
    actor: str,
) -> None:
    if replace_options:
        await _replace_options(session, store_id, product.id, options)
    rule_ids: set[uuid.UUID] | None = None
    enabled: set[str] = set()
    locations: dict[str, uuid.UUID] | None = None
    for plan in plans.values():
        if plan.body is None:
            continue
        if plan.body.prices is not None:
            if rule_ids is None:
                rule_ids = set((await session.execute(select(PriceRule.id))).scalars())
                enabled = await pricing.enabled_currencies(session)
            await _replace_prices(
                session, store_id, plan.row.id, plan.body.prices, rule_ids, enabled, plan.field
            )
        if plan.body.stock:
            if locations is None:
                locations = {
                    code: id_
                    for id_, code in await session.execute(
                        select(InventoryLocation.id, InventoryLocation.code)
                    )
                }
            await _set_stock(session, store_id, plan, plan.body.stock, locations, actor)
    if images is not None:
        await _replace_images(session, store_id, product.id, images, plans)
    if category_ids is not None:
        await _replace_categories(session, store_id, product.id, category_ids)
    await flush(session)


async def _replace_options(
    session: AsyncSession, store_id: uuid.UUID, product_id: uuid.UUID, options: list[OptionIn]
) -> None:
    await session.execute(delete(ProductOption).where(ProductOption.product_id == product_id))
    for i, option in enumerate(options):
        row = ProductOption(
            store_id=store_id, id=uuid7(), product_id=product_id, name=option.name, position=i
        )
        session.add(row)
        await flush(session)
        session.add_all(
            ProductOptionValue(
                store_id=store_id, id=uuid7(), option_id=row.id, value=value, position=j
            )
            for j, value in enumerate(option.values)
        )


async def _replace_prices(
    session: AsyncSession,
    store_id: uuid.UUID,
    variant_id: uuid.UUID,
    prices: list[PriceIn],
    rule_ids: set[uuid.UUID],
    enabled: set[str],
    field: str,
) -> None:
    seen: set[tuple[str, int, uuid.UUID | None]] = set()
    for i, price in enumerate(prices):
        target = f"{field}.prices.{i}"
        if price.currency not in enabled:
            await pricing.require_enabled_currency(
                session, price.currency, field=f"{target}.currency"
            )
        if price.price_rule_id is not None and price.price_rule_id not in rule_ids:
            raise InvalidInput("unknown price rule", field=f"{target}.price_rule_id")
        key = (price.currency, price.min_quantity, price.price_rule_id)
        if key in seen:
            raise InvalidInput(
                "two prices for the same currency, minimum quantity and price rule",
                field=f"{target}.currency",
            )
        seen.add(key)
    await session.execute(delete(Price).where(Price.variant_id == variant_id))
    session.add_all(
        Price(
            store_id=store_id,
            id=uuid7(),
            variant_id=variant_id,
            **price.model_dump(),
        )
        for price in prices
    )


async def _set_stock(
    session: AsyncSession,
    store_id: uuid.UUID,
    plan: Plan,
    stock: list[StockIn],
    locations: dict[str, uuid.UUID],
    actor: str,
) -> None:
    ids = set(locations.values())
    seen: set[uuid.UUID] = set()
    for i, entry in enumerate(stock):
        target = f"{plan.field}.stock.{i}"
        if (entry.location_id is None) == (entry.location_code is None):
            raise InvalidInput("give location_id or location_code", field=f"{target}.location_id")
        if entry.location_id is not None:
            if entry.location_id not in ids:
                raise InvalidInput("unknown inventory location", field=f"{target}.location_id")
            location_id = entry.location_id
        else:
            found = locations.get(entry.location_code or "")
            if found is None:
                raise InvalidInput("unknown inventory location", field=f"{target}.location_code")
            location_id = found
        if location_id in seen:
            raise InvalidInput("location listed twice", field=f"{target}.location_id")
        seen.add(location_id)
        try:
            await inventory.set_on_hand(
                session, store_id, plan.row.id, location_id, entry.on_hand, actor=actor
            )
        except Conflict:
            raise Conflict(
                "on_hand cannot go below the units already reserved", field=f"{target}.on_hand"
            ) from None


async def _replace_images(
    session: AsyncSession,
    store_id: uuid.UUID,
    product_id: uuid.UUID,
    images: list[ImageIn],
    plans: dict[uuid.UUID, Plan],
) -> None:
    by_sku = {p.row.sku: p.row.id for p in plans.values() if p.row.sku}
    await session.execute(delete(ProductImage).where(ProductImage.product_id == product_id))
    for i, image in enumerate(images):
        variant_id = None
        if image.variant_sku is not None:
            variant_id = by_sku.get(image.variant_sku)
            if variant_id is None:
                raise InvalidInput(
                    "no variant of this product has that SKU", field=f"images.{i}.variant_sku"
                )
        session.add(
            ProductImage(
                store_id=store_id,
                id=uuid7(),
                product_id=product_id,
                variant_id=variant_id,
                url=image.url,
                alt=image.alt,
                position=image.position if image.position is not None else i,
            )
        )


async def _replace_categories(
    session: AsyncSession, store_id: uuid.UUID, product_id: uuid.UUID, category_ids: list[uuid.UUID]
) -> None:
    known = set(
        (await session.execute(select(Category.id).where(Category.id.in_(category_ids)))).scalars()
    )
    for i, category_id in enumerate(category_ids):
        if category_id not in known:
            raise InvalidInput("unknown category", field=f"category_ids.{i}")
        if category_id in category_ids[:i]:
            raise InvalidInput("category listed twice", field=f"category_ids.{i}")
    current = {
        c: pos
        for c, pos in await session.execute(
            select(CategoryProduct.category_id, CategoryProduct.position).where(
                CategoryProduct.product_id == product_id
            )
        )
    }
    gone = set(current) - set(category_ids)
    if gone:
        await session.execute(
            delete(CategoryProduct).where(
                CategoryProduct.product_id == product_id,
                CategoryProduct.category_id.in_(list(gone)),
            )
        )
    new = [c for c in category_ids if c not in current]
    if not new:
        return
    ends: dict[uuid.UUID, int] = {
        c: int(m)
        for c, m in await session.execute(
            select(CategoryProduct.category_id, func.max(CategoryProduct.position))
            .where(CategoryProduct.category_id.in_(new))
            .group_by(CategoryProduct.category_id)
        )
        if m is not None
    }
    session.add_all(
        CategoryProduct(
            store_id=store_id,
            id=uuid7(),
            category_id=c,
            product_id=product_id,
            position=ends.get(c, -1) + 1,
        )
        for c in new
    )
