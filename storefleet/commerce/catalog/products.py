"""Products: the nested write (create and update the product with its options, variants,
prices, stock, images and categories in one request) and the soft delete.

Every function runs inside the caller's tenant transaction. Validation errors raise before
commit, so a bad nested write leaves nothing behind (the transaction rolls back); checks the
database would otherwise answer with a constraint violation (slug, SKU, barcode, one default
variant) are made first so the client gets a 409 naming the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.catalog.details import live_variants, options_of
from storefleet.commerce.catalog.fields import slugify
from storefleet.commerce.catalog.models import CategoryProduct, Product, ProductVariant
from storefleet.commerce.catalog.product_parts import write_children
from storefleet.commerce.catalog.schemas import (
    ImageIn,
    OptionIn,
    ProductCreate,
    ProductPatch,
    VariantFields,
)
from storefleet.commerce.catalog.variants import (
    declared_options,
    pick_default,
    plan_variants,
    write_variants,
)
from storefleet.commerce.tax.models import TaxClass
from storefleet.db.constraints import flush, unique_conflicts
from storefleet.db.ids import uuid7
from storefleet.db.queries import get_or_404
from storefleet.errors import Conflict, InvalidInput
from storefleet.schemas import MUST_NOT, apply_changes, refuse_nulls

PRODUCT_NOT_FOUND = "Product not found"
NOT_NULL_PRODUCT_FIELDS = (
    "name",
    "slug",
    "description",
    "status",
    "kind",
    "tags",
    "requires_shipping",
    "metadata",
)


async def get_product(
    session: AsyncSession, product_id: uuid.UUID, *, for_update: bool = False
) -> Product:
    """A live product of this store (RLS and the search_path scope the query); else 404."""
    return await get_or_404(
        session,
        Product,
        product_id,
        missing=PRODUCT_NOT_FOUND,
        lock=for_update,
        where=[Product.live()],
    )


@unique_conflicts
async def create_product(
    session: AsyncSession, store_id: uuid.UUID, body: ProductCreate, *, actor: str
) -> Product:
    fields = body.model_dump(
        exclude_unset=True, exclude={"options", "variants", "images", "category_ids"}
    )
    for key in NOT_NULL_PRODUCT_FIELDS:
        if key in fields and fields[key] is None:
            del fields[key]
    explicit_slug = fields.pop("slug", None)
    slug = explicit_slug or await _free_slug(session, slugify(body.name, "product"))
    product = Product(store_id=store_id, id=uuid7(), name=body.name, slug=slug)
    product.description = ""
    product.tags = []
    product.metadata_ = {}
    if explicit_slug:
        await _check_slug(session, explicit_slug, None)
    await _apply_product_fields(session, product, fields)
    session.add(product)
    await flush(session)
    await _write_nested(
        session,
        store_id,
        product,
        options=body.options or [],
        replace_options=True,
        variants=list(body.variants),
        remove_ids=[],
        images=body.images,
        category_ids=body.category_ids,
        actor=actor,
        creating=True,
    )
    return product


@unique_conflicts
async def update_product(
    session: AsyncSession,
    store_id: uuid.UUID,
    product_id: uuid.UUID,
    body: ProductPatch,
    *,
    actor: str,
) -> Product:
    product = await get_product(session, product_id, for_update=True)
    fields = body.model_dump(
        exclude_unset=True,
        exclude={"options", "variants", "images", "category_ids", "remove_variant_ids"},
    )
    refuse_nulls(fields, NOT_NULL_PRODUCT_FIELDS, MUST_NOT)
    if "slug" in fields and fields["slug"] != product.slug:
        await _check_slug(session, fields["slug"], product.id)
    await _apply_product_fields(session, product, fields)
    existing_options = [
        OptionIn(name=o["name"], values=o["values"])
        for o in (await options_of(session, [product.id])).get(product.id, [])
    ]
    await _write_nested(
        session,
        store_id,
        product,
        options=body.options if body.options is not None else existing_options,
        replace_options=body.options is not None,
        variants=list(body.variants or []),
        remove_ids=body.remove_variant_ids,
        images=body.images,
        category_ids=body.category_ids,
        actor=actor,
        creating=False,
    )
    product.updated_at = datetime.now(UTC)
    await flush(session)
    return product


async def delete_product(session: AsyncSession, product_id: uuid.UUID) -> None:
    """Soft delete: the product and its variants leave every list; slug and SKUs are freed."""
    product = await get_product(session, product_id)
    stamp = datetime.now(UTC)
    product.deleted_at = stamp
    await session.execute(
        update(ProductVariant)
        .where(ProductVariant.product_id == product.id, ProductVariant.live())
        .values(deleted_at=stamp, is_default=False)
    )
    await session.execute(delete(CategoryProduct).where(CategoryProduct.product_id == product.id))
    await flush(session)


async def _free_slug(session: AsyncSession, base: str) -> str:
    """An automatic slug never collides: ``shirt``, ``shirt-2``, ``shirt-3`` ..."""
    taken = set(
        (
            await session.execute(
                select(Product.slug).where(
                    Product.live(),
                    or_(Product.slug == base, Product.slug.like(base + "-%")),
                )
            )
        ).scalars()
    )
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base[: 120 - len(str(n)) - 1]}-{n}"
    return slug


async def _check_slug(session: AsyncSession, slug: str, product_id: uuid.UUID | None) -> None:
    stmt = select(Product.id).where(Product.slug == slug, Product.live())
    if product_id is not None:
        stmt = stmt.where(Product.id != product_id)
    if await session.scalar(stmt.limit(1)) is not None:
        raise Conflict(f"slug {slug!r} is already used by another product", field="slug")


async def _apply_product_fields(
    session: AsyncSession, product: Product, fields: dict[str, Any]
) -> None:
    published = fields.pop("published", None)
    if "tax_class_id" in fields and fields["tax_class_id"] is not None:
        found = await session.scalar(
            select(TaxClass.id).where(TaxClass.id == fields["tax_class_id"])
        )
        if found is None:
            raise InvalidInput("unknown tax class", field="tax_class_id")
    if "metadata" in fields:
        product.metadata_ = fields.pop("metadata")
    apply_changes(product, fields)
    if published is True and "published_at" not in fields and product.published_at is None:
        product.published_at = datetime.now(UTC)
    elif published is False:
        if fields.get("published_at") is not None:
            raise InvalidInput("published_at given with published=false", field="published")
        product.published_at = None


async def _write_nested(
    session: AsyncSession,
    store_id: uuid.UUID,
    product: Product,
    *,
    options: list[OptionIn],
    replace_options: bool,
    variants: Sequence[VariantFields],
    remove_ids: Sequence[uuid.UUID],
    images: list[ImageIn] | None,
    category_ids: list[uuid.UUID] | None,
    actor: str,
    creating: bool,
) -> None:
    declared = declared_options(options)
    existing = {v.id: v for v in ([] if creating else await live_variants(session, product.id))}
    with session.no_autoflush:
        plans, removing = await plan_variants(
            session, store_id, product, existing, declared, variants, remove_ids, creating
        )
    default_id = pick_default(plans)
    await write_variants(session, product, existing, plans, removing, default_id, creating)
    await write_children(
        session,
        store_id,
        product,
        plans,
        options=options,
        replace_options=replace_options,
        images=images,
        category_ids=category_ids,
        actor=actor,
    )
