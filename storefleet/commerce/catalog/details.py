"""One product as a nested view, and the reads of its parts the admin and storefront views
share: a handful of queries per product, none per variant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.catalog.models import (
    Category,
    CategoryProduct,
    Product,
    ProductImage,
    ProductOption,
    ProductOptionValue,
    ProductVariant,
)
from storefleet.commerce.inventory.models import InventoryLevel, InventoryLocation
from storefleet.commerce.pricing.models import Price


async def product_detail(session: AsyncSession, product: Product) -> dict[str, Any]:
    """The full nested view of one product (admin)."""
    options = await options_of(session, [product.id])
    variants = await live_variants(session, product.id)
    ids = [v.id for v in variants]
    prices: dict[uuid.UUID, list[Price]] = {v: [] for v in ids}
    if ids:
        for price in (
            await session.execute(
                select(Price)
                .where(Price.variant_id.in_(ids))
                .order_by(Price.currency, Price.price_rule_id.nullsfirst(), Price.min_quantity)
            )
        ).scalars():
            prices[price.variant_id].append(price)
    stock: dict[uuid.UUID, list[dict[str, Any]]] = {v: [] for v in ids}
    if ids:
        rows = await session.execute(
            select(InventoryLevel, InventoryLocation.code)
            .join(
                InventoryLocation,
                (InventoryLocation.store_id == InventoryLevel.store_id)
                & (InventoryLocation.id == InventoryLevel.location_id),
            )
            .where(InventoryLevel.variant_id.in_(ids))
            .order_by(InventoryLocation.code)
        )
        for level, code in rows:
            stock[level.variant_id].append(
                {
                    "location_id": level.location_id,
                    "location_code": code,
                    "on_hand": level.on_hand,
                    "reserved": level.reserved,
                    "available": max(0, level.on_hand - level.reserved),
                }
            )
    images = await images_of(session, product.id)
    categories = await categories_of(session, product.id)
    return {
        **product_fields(product),
        "options": options.get(product.id, []),
        "variants": [
            {**variant_fields(v), "prices": prices[v.id], "stock": stock[v.id]} for v in variants
        ],
        "images": images,
        "categories": categories,
    }


def product_fields(product: Product) -> dict[str, Any]:
    names = (
        "id name slug status kind vendor brand tags published_at created_at updated_at "
        "description seo_title seo_description requires_shipping tax_class_id"
    ).split()
    out = {n: getattr(product, n) for n in names}
    out["metadata"] = product.metadata_
    return out


def variant_fields(variant: ProductVariant) -> dict[str, Any]:
    names = (
        "id title sku barcode option_values weight_grams track_inventory allow_backorder "
        "is_default position"
    ).split()
    return {n: getattr(variant, n) for n in names}


async def options_of(
    session: AsyncSession, product_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Each product's options in order, each with its values in order."""
    rows = await session.execute(
        select(ProductOption, ProductOptionValue.value)
        .outerjoin(
            ProductOptionValue,
            (ProductOptionValue.store_id == ProductOption.store_id)
            & (ProductOptionValue.option_id == ProductOption.id),
        )
        .where(ProductOption.product_id.in_(list(product_ids)))
        .order_by(ProductOption.position, ProductOption.id, ProductOptionValue.position)
    )
    out: dict[uuid.UUID, list[dict[str, Any]]] = {}
    seen: dict[uuid.UUID, dict[str, Any]] = {}
    for option, value in rows:
        entry = seen.get(option.id)
        if entry is None:
            entry = {"id": option.id, "name": option.name, "position": option.position}
            entry["values"] = []
            seen[option.id] = entry
            out.setdefault(option.product_id, []).append(entry)
        if value is not None:
            entry["values"].append(value)
    return out


async def live_variants(session: AsyncSession, product_id: uuid.UUID) -> list[ProductVariant]:
    return list(
        (
            await session.execute(
                select(ProductVariant)
                .where(ProductVariant.product_id == product_id, ProductVariant.live())
                .order_by(ProductVariant.position, ProductVariant.id)
            )
        ).scalars()
    )


async def images_of(session: AsyncSession, product_id: uuid.UUID) -> list[ProductImage]:
    return list(
        (
            await session.execute(
                select(ProductImage)
                .where(ProductImage.product_id == product_id)
                .order_by(ProductImage.position, ProductImage.id)
            )
        ).scalars()
    )


async def categories_of(session: AsyncSession, product_id: uuid.UUID) -> list[Category]:
    return list(
        (
            await session.execute(
                select(Category)
                .join(
                    CategoryProduct,
                    (CategoryProduct.store_id == Category.store_id)
                    & (CategoryProduct.category_id == Category.id),
                )
                .where(CategoryProduct.product_id == product_id)
                .order_by(Category.path)
            )
        ).scalars()
    )
