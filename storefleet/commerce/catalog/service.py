"""Catalog: nested product writes, product reads and search, and the category tree.

Every function runs inside the caller's tenant transaction. Validation errors raise before
commit, so a bad nested write leaves nothing behind (the transaction rolls back); checks the
database would otherwise answer with a constraint violation (slug, SKU, barcode, one default
variant) are made first so the client gets a 409 naming the field.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.exc import IntegrityError
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
from storefleet.commerce.catalog.schemas import (
    ImageIn,
    OptionIn,
    PriceIn,
    ProductCreate,
    ProductPatch,
    StockIn,
    VariantFields,
)
from storefleet.commerce.common import sort_order
from storefleet.commerce.inventory import stock as inventory
from storefleet.commerce.inventory.models import InventoryLevel, InventoryLocation
from storefleet.commerce.pricing import service as pricing
from storefleet.commerce.pricing.models import Price, PriceRule
from storefleet.commerce.tax.models import TaxClass
from storefleet.db.ids import uuid7
from storefleet.errors import Conflict, InvalidInput, NotFound

P = ParamSpec("P")
R = TypeVar("R")
PRODUCT_NOT_FOUND = "Product not found"
CATEGORY_NOT_FOUND = "Category not found"
TRIGRAM_THRESHOLD = 0.3
SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
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
PRODUCT_SORTS: dict[str, ColumnElement[Any]] = {
    "name": Product.name,  # type: ignore[dict-item]
    "created_at": Product.created_at,  # type: ignore[dict-item]
    "updated_at": Product.updated_at,  # type: ignore[dict-item]
    "published_at": Product.published_at,  # type: ignore[dict-item]
}
CONSTRAINT_FIELDS = {
    "uq_products_store_slug_live": "slug",
    "uq_product_variants_sku_live": "sku",
    "uq_product_variants_barcode_live": "barcode",
    "uq_categories_store_id_slug": "slug",
}


def slugify(text: str, fallback: str = "item") -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:120].strip("-")
    return slug or fallback


def now() -> datetime:
    return datetime.now(UTC)


def _conflict(exc: IntegrityError) -> Exception:
    name = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
    field = CONSTRAINT_FIELDS.get(name)
    if field is None:
        return exc
    return Conflict(f"{field} is already in use", field=field)


def unique_conflicts(
    fn: Callable[P, Awaitable[R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """A race on a unique index that the pre-checks missed is still a 409 naming the field."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except IntegrityError as exc:
            raise _conflict(exc) from None

    return wrapper


async def flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise _conflict(exc) from None


# --- search ------------------------------------------------------------------------------


def search_filter(q: str) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    """Full text (``websearch_to_tsquery``) OR trigram similarity on the name, and a rank.

    ``word_similarity`` catches a typo inside a longer name ("shrit" → "Blue Shirt") that
    plain ``similarity`` of the whole name misses. pg_trgm lives in ``public``: the session's
    search_path is the store's schema only, so its functions are qualified.
    """
    tsq = func.websearch_to_tsquery(SIMPLE, q)
    similarity = func.public.similarity(Product.name, q)
    word = func.public.word_similarity(q, Product.name)
    condition = or_(
        Product.search_vector.op("@@")(tsq),
        similarity > TRIGRAM_THRESHOLD,
        word > TRIGRAM_THRESHOLD,
    )
    rank = func.ts_rank(Product.search_vector, tsq) + func.greatest(similarity, word)
    return condition, rank


# --- reads -------------------------------------------------------------------------------


@dataclass
class ListFilters:
    status: str | None = None
    kind: str | None = None
    category_id: uuid.UUID | None = None
    tag: str | None = None
    vendor: str | None = None
    q: str | None = None


def in_category(category_id: uuid.UUID) -> ColumnElement[bool]:
    return Product.id.in_(
        select(CategoryProduct.product_id).where(CategoryProduct.category_id == category_id)
    )


async def list_products(
    session: AsyncSession,
    filters: ListFilters,
    *,
    sort: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Product], int]:
    conditions: list[ColumnElement[bool]] = [Product.deleted_at.is_(None)]
    if filters.status:
        conditions.append(Product.status == filters.status)
    if filters.kind:
        conditions.append(Product.kind == filters.kind)
    if filters.category_id:
        conditions.append(in_category(filters.category_id))
    if filters.tag:
        conditions.append(Product.tags.contains([filters.tag]))
    if filters.vendor:
        conditions.append(Product.vendor == filters.vendor)
    order: list[Any]
    if filters.q:
        condition, rank = search_filter(filters.q)
        conditions.append(condition)
        order = [rank.desc()] if sort is None else sort_order(sort, PRODUCT_SORTS, "-created_at")
    else:
        order = sort_order(sort, PRODUCT_SORTS, "-created_at")
    stmt = (
        select(Product, func.count().over().label("total"))
        .where(*conditions)
        .order_by(*order, Product.id)
        .limit(limit)
        .offset(offset)
    )
    rows = (await session.execute(stmt)).all()
    if not rows and offset:
        total = await session.scalar(select(func.count()).select_from(Product).where(*conditions))
        return [], int(total or 0)
    return [r[0] for r in rows], int(rows[0][1]) if rows else 0


async def get_product(
    session: AsyncSession, product_id: uuid.UUID, *, for_update: bool = False
) -> Product:
    """A live product of this store (RLS and the search_path scope the query); else 404."""
    stmt = select(Product).where(Product.id == product_id, Product.deleted_at.is_(None))
    product = await session.scalar(stmt.with_for_update() if for_update else stmt)
    if product is None:
        raise NotFound(PRODUCT_NOT_FOUND)
    return product


async def product_detail(session: AsyncSession, product: Product) -> dict[str, Any]:
    """The full nested view of one product (admin): a handful of queries, none per variant."""
    options = await _options(session, [product.id])
    variants = await _live_variants(session, product.id)
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
    images = (
        await session.execute(
            select(ProductImage)
            .where(ProductImage.product_id == product.id)
            .order_by(ProductImage.position, ProductImage.id)
        )
    ).scalars()
    categories = await _categories_of(session, product.id)
    return {
        **_product_fields(product),
        "options": options.get(product.id, []),
        "variants": [
            {**_variant_fields(v), "prices": prices[v.id], "stock": stock[v.id]} for v in variants
        ],
        "images": list(images),
        "categories": categories,
    }


def _product_fields(product: Product) -> dict[str, Any]:
    names = (
        "id name slug status kind vendor brand tags published_at created_at updated_at "
        "description seo_title seo_description requires_shipping tax_class_id"
    ).split()
    out = {n: getattr(product, n) for n in names}
    out["metadata"] = product.metadata_
    return out


def _variant_fields(variant: ProductVariant) -> dict[str, Any]:
    names = (
        "id title sku barcode option_values weight_grams track_inventory allow_backorder "
        "is_default position"
    ).split()
    return {n: getattr(variant, n) for n in names}


async def _options(
    session: AsyncSession, product_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
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


async def _live_variants(session: AsyncSession, product_id: uuid.UUID) -> list[ProductVariant]:
    return list(
        (
            await session.execute(
                select(ProductVariant)
                .where(ProductVariant.product_id == product_id, ProductVariant.deleted_at.is_(None))
                .order_by(ProductVariant.position, ProductVariant.id)
            )
        ).scalars()
    )


async def _categories_of(session: AsyncSession, product_id: uuid.UUID) -> list[Category]:
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


# --- nested writes -----------------------------------------------------------------------


@dataclass
class Plan:
    """A variant as it will be after the write: the row (existing or new) and its input."""

    row: ProductVariant
    body: VariantFields | None
    field: str  # ``variants.3`` for variants in the request, else ``variants``


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
    for key in NOT_NULL_PRODUCT_FIELDS:
        if key in fields and fields[key] is None:
            raise InvalidInput("must not be null", field=key)
    if "slug" in fields and fields["slug"] != product.slug:
        await _check_slug(session, fields["slug"], product.id)
    await _apply_product_fields(session, product, fields)
    existing_options = [
        OptionIn(name=o["name"], values=o["values"])
        for o in (await _options(session, [product.id])).get(product.id, [])
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
    product.updated_at = now()
    await flush(session)
    return product


async def delete_product(session: AsyncSession, product_id: uuid.UUID) -> None:
    """Soft delete: the product and its variants leave every list; slug and SKUs are freed."""
    product = await get_product(session, product_id)
    stamp = now()
    product.deleted_at = stamp
    await session.execute(
        update(ProductVariant)
        .where(ProductVariant.product_id == product.id, ProductVariant.deleted_at.is_(None))
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
                    Product.deleted_at.is_(None),
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
    stmt = select(Product.id).where(Product.slug == slug, Product.deleted_at.is_(None))
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
    for key, value in fields.items():
        setattr(product, key, value)
    if published is True and "published_at" not in fields and product.published_at is None:
        product.published_at = now()
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
    declared = _declared_options(options)
    existing = {v.id: v for v in ([] if creating else await _live_variants(session, product.id))}
    with session.no_autoflush:
        plans, removing = await _plan_variants(
            session, store_id, product, existing, declared, variants, remove_ids, creating
        )
    default_id = _pick_default(plans)
    await _write_variants(session, product, existing, plans, removing, default_id, creating)
    await _write_children(
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


async def _plan_variants(
    session: AsyncSession,
    store_id: uuid.UUID,
    product: Product,
    existing: dict[uuid.UUID, ProductVariant],
    declared: dict[str, list[str]],
    variants: Sequence[VariantFields],
    remove_ids: Sequence[uuid.UUID],
    creating: bool,
) -> tuple[dict[uuid.UUID, Plan], set[uuid.UUID]]:
    """Every variant as it will be, validated (options, SKU, barcode) before any write."""
    removing: set[uuid.UUID] = set()
    for i, variant_id in enumerate(remove_ids):
        if variant_id not in existing:
            raise InvalidInput("not a variant of this product", field=f"remove_variant_ids.{i}")
        removing.add(variant_id)
    plans: dict[uuid.UUID, Plan] = {
        v.id: Plan(v, None, "options") for v in existing.values() if v.id not in removing
    }
    next_position = max((v.position for v in existing.values()), default=-1) + 1
    new_rows: list[ProductVariant] = []
    for i, body in enumerate(variants):
        field = f"variants.{i}"
        edit_id: uuid.UUID | None = getattr(body, "id", None)
        if edit_id is not None:
            if edit_id not in plans:
                raise InvalidInput("not a live variant of this product", field=f"{field}.id")
            if plans[edit_id].body is not None:
                raise InvalidInput("variant listed twice", field=f"{field}.id")
            plans[edit_id].body, plans[edit_id].field = body, field
            continue
        row = ProductVariant(store_id=store_id, id=uuid7(), product_id=product.id)
        row.title, row.option_values = "", {}
        row.track_inventory, row.allow_backorder = True, False
        row.position, row.is_default = next_position, False
        next_position += 1
        new_rows.append(row)
        plans[row.id] = Plan(row, body, field)
    if not plans:
        if creating:
            row = ProductVariant(store_id=store_id, id=uuid7(), product_id=product.id)
            row.title, row.option_values, row.position = "Default", {}, 0
            row.track_inventory, row.allow_backorder, row.is_default = True, False, True
            new_rows.append(row)
            plans[row.id] = Plan(row, None, "variants")
        else:
            raise InvalidInput("a product keeps at least one variant", field="remove_variant_ids")

    # Validate every final variant against the declared options, and their identifiers.
    combos: dict[tuple[tuple[str, str], ...], str] = {}
    for plan in plans.values():
        values = (
            plan.body.option_values
            if plan.body is not None and plan.body.option_values is not None
            else plan.row.option_values
        )
        if plan.body is not None:
            target = f"{plan.field}.option_values"
        else:
            target = "variants" if creating else "options"
        _check_option_values(values or {}, declared, target)
        key = tuple(sorted((values or {}).items()))
        if key in combos and declared:
            raise InvalidInput(f"same options as {combos[key]}", field=target)
        combos[key] = plan.field
        if plan.body is not None:
            for name in ("title", "sku", "barcode", "weight_grams"):
                if name in plan.body.model_fields_set:
                    setattr(plan.row, name, getattr(plan.body, name))
            for name in ("track_inventory", "allow_backorder", "position"):
                value = getattr(plan.body, name)
                if value is not None:
                    setattr(plan.row, name, value)
            if plan.body.option_values is not None:
                plan.row.option_values = dict(plan.body.option_values)
            if not plan.row.title:
                plan.row.title = " / ".join(plan.row.option_values.values()) or "Default"
    await _check_identifiers(session, product.id, plans, removing)
    return plans, removing


async def _write_variants(
    session: AsyncSession,
    product: Product,
    existing: dict[uuid.UUID, ProductVariant],
    plans: dict[uuid.UUID, Plan],
    removing: set[uuid.UUID],
    default_id: uuid.UUID,
    creating: bool,
) -> None:
    stamp = now()
    if removing:
        await session.execute(
            update(ProductVariant)
            .where(ProductVariant.id.in_(list(removing)))
            .values(deleted_at=stamp, is_default=False)
        )
    if not creating:
        await session.execute(
            update(ProductVariant)
            .where(ProductVariant.product_id == product.id, ProductVariant.is_default)
            .values(is_default=False)
        )
        for variant in existing.values():
            variant.is_default = False
        await flush(session)
    for plan in plans.values():
        plan.row.is_default = plan.row.id == default_id
        if plan.row.id not in existing:
            session.add(plan.row)
        else:
            plan.row.updated_at = stamp
    await flush(session)


async def _write_children(
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


def _declared_options(options: list[OptionIn]) -> dict[str, list[str]]:
    declared: dict[str, list[str]] = {}
    for i, option in enumerate(options):
        if option.name in declared:
            raise InvalidInput("option declared twice", field=f"options.{i}.name")
        if len(set(option.values)) != len(option.values):
            raise InvalidInput("option values must be distinct", field=f"options.{i}.values")
        declared[option.name] = option.values
    return declared


def _check_option_values(
    values: dict[str, str], declared: dict[str, list[str]], field: str
) -> None:
    if set(values) != set(declared):
        missing = sorted(set(declared) - set(values))
        extra = sorted(set(values) - set(declared))
        raise InvalidInput(
            "option values must name each declared option exactly once"
            + (f"; missing {missing}" if missing else "")
            + (f"; undeclared {extra}" if extra else ""),
            field=field,
        )
    for name, value in values.items():
        if value not in declared[name]:
            raise InvalidInput(f"{value!r} is not a declared value of {name!r}", field=field)


async def _check_identifiers(
    session: AsyncSession,
    product_id: uuid.UUID,
    plans: dict[uuid.UUID, Plan],
    removing: set[uuid.UUID],
) -> None:
    """SKU and barcode: unique among the store's live variants (this request included)."""
    for name in ("sku", "barcode"):
        column = getattr(ProductVariant, name)
        seen: dict[str, str] = {}
        for plan in plans.values():
            value = getattr(plan.row, name)
            if value is None:
                continue
            target = f"{plan.field}.{name}" if plan.body is not None else name
            if value in seen:
                raise Conflict(f"{name} {value!r} is used twice", field=target)
            seen[value] = target
        if not seen:
            continue
        mine = list(plans) + list(removing)
        taken = (
            await session.execute(
                select(column).where(
                    column.in_(list(seen)),
                    ProductVariant.deleted_at.is_(None),
                    ProductVariant.id.not_in(mine),
                )
            )
        ).scalars()
        clashes = set(taken)
        for value, target in seen.items():
            if value in clashes:
                raise Conflict(f"{name} {value!r} is already in use", field=target)


def _pick_default(plans: dict[uuid.UUID, Plan]) -> uuid.UUID:
    chosen = [p for p in plans.values() if p.body is not None and p.body.is_default is True]
    if len(chosen) > 1:
        raise InvalidInput("only one variant can be the default", field=f"{chosen[1].field}")
    if chosen:
        return chosen[0].row.id
    current = [
        p
        for p in plans.values()
        if p.row.is_default and not (p.body is not None and p.body.is_default is False)
    ]
    if current:
        return current[0].row.id
    candidates = [
        p for p in plans.values() if not (p.body is not None and p.body.is_default is False)
    ] or list(plans.values())
    return min(candidates, key=lambda p: (p.row.position, str(p.row.id))).row.id


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


# --- categories --------------------------------------------------------------------------


async def get_category(
    session: AsyncSession, category_id: uuid.UUID, *, for_update: bool = False
) -> Category:
    stmt = select(Category).where(Category.id == category_id)
    found = await session.scalar(stmt.with_for_update() if for_update else stmt)
    if found is None:
        raise NotFound(CATEGORY_NOT_FOUND)
    return found


async def list_categories(
    session: AsyncSession, *, limit: int, offset: int, parent_id: uuid.UUID | None = None
) -> tuple[list[Category], int]:
    stmt = select(Category, func.count().over())
    if parent_id is not None:
        stmt = stmt.where(Category.parent_id == parent_id)
    rows = (await session.execute(stmt.order_by(Category.path).limit(limit).offset(offset))).all()
    total = int(rows[0][1]) if rows else 0
    if not rows and offset:
        count = select(func.count()).select_from(Category)
        if parent_id is not None:
            count = count.where(Category.parent_id == parent_id)
        total = int(await session.scalar(count) or 0)
    return [r[0] for r in rows], total


async def _check_category_slug(
    session: AsyncSession, slug: str, category_id: uuid.UUID | None
) -> None:
    stmt = select(Category.id).where(Category.slug == slug)
    if category_id is not None:
        stmt = stmt.where(Category.id != category_id)
    if await session.scalar(stmt.limit(1)) is not None:
        raise Conflict(f"slug {slug!r} is already used by another category", field="slug")


async def _parent(session: AsyncSession, parent_id: uuid.UUID | None) -> Category | None:
    if parent_id is None:
        return None
    parent = await session.scalar(select(Category).where(Category.id == parent_id))
    if parent is None:
        raise InvalidInput("unknown parent category", field="parent_id")
    return parent


@unique_conflicts
async def create_category(
    session: AsyncSession, store_id: uuid.UUID, fields: dict[str, Any]
) -> Category:
    slug = fields.pop("slug", None) or slugify(fields["name"], "category")
    await _check_category_slug(session, slug, None)
    parent = await _parent(session, fields.get("parent_id"))
    category = Category(store_id=store_id, id=uuid7(), slug=slug, **fields)
    category.path = f"{parent.path}/{slug}" if parent else slug
    session.add(category)
    await flush(session)
    return category


@unique_conflicts
async def update_category(
    session: AsyncSession, category_id: uuid.UUID, fields: dict[str, Any]
) -> Category:
    """Rename or move; the materialized path of the whole subtree follows in one UPDATE."""
    category = await get_category(session, category_id, for_update=True)
    for key in ("name", "slug", "description", "position", "is_active"):
        if key in fields and fields[key] is None:
            raise InvalidInput("must not be null", field=key)
    if "slug" in fields and fields["slug"] != category.slug:
        await _check_category_slug(session, fields["slug"], category.id)
    old_path = category.path
    parent_path: str | None = old_path.rpartition("/")[0] or None
    if "parent_id" in fields and fields["parent_id"] != category.parent_id:
        parent = await _parent(session, fields["parent_id"])
        if parent is not None and (
            parent.id == category.id or parent.path.startswith(old_path + "/")
        ):
            raise Conflict("a category cannot move under itself", field="parent_id")
        parent_path = parent.path if parent else None
    for key, value in fields.items():
        setattr(category, key, value)
    new_path = f"{parent_path}/{category.slug}" if parent_path else category.slug
    category.updated_at = now()
    await flush(session)
    if new_path != old_path:
        await session.execute(
            update(Category)
            .where(or_(Category.path == old_path, Category.path.startswith(old_path + "/")))
            .values(path=func.concat(new_path, func.substr(Category.path, len(old_path) + 1)))
            .execution_options(synchronize_session=False)
        )
        await session.refresh(category)
    return category


async def delete_category(session: AsyncSession, category_id: uuid.UUID) -> None:
    category = await get_category(session, category_id)
    child = await session.scalar(
        select(Category.id).where(Category.parent_id == category.id).limit(1)
    )
    if child is not None:
        raise Conflict("the category still has subcategories", field="parent_id")
    await session.delete(category)
    await flush(session)


async def set_category_products(
    session: AsyncSession, store_id: uuid.UUID, category_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Membership and order of a category's products, replaced as given."""
    await get_category(session, category_id)
    live = set(
        (
            await session.execute(
                select(Product.id).where(Product.id.in_(ids), Product.deleted_at.is_(None))
            )
        ).scalars()
    )
    for i, product_id in enumerate(ids):
        if product_id not in live:
            raise InvalidInput("unknown product", field=f"product_ids.{i}")
        if product_id in ids[:i]:
            raise InvalidInput("product listed twice", field=f"product_ids.{i}")
    await session.execute(delete(CategoryProduct).where(CategoryProduct.category_id == category_id))
    session.add_all(
        CategoryProduct(
            store_id=store_id, id=uuid7(), category_id=category_id, product_id=p, position=i
        )
        for i, p in enumerate(ids)
    )
    await flush(session)
    return ids


# --- storefront --------------------------------------------------------------------------


def visible() -> list[ColumnElement[bool]]:
    """What shoppers see: active, published (not in the future), not deleted."""
    return [
        Product.status == "active",
        Product.published_at.is_not(None),
        Product.published_at <= func.now(),
        Product.deleted_at.is_(None),
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


def storefront_page(
    *, q: str | None, category_id: uuid.UUID | None, limit: int, offset: int
) -> Select[*tuple[Any, ...]]:
    """One query: the page of products, their default variant, and the total."""
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
            func.count().over().label("total"),
        )
        .outerjoin(
            default,
            and_(
                default.store_id == Product.store_id,
                default.product_id == Product.id,
                default.is_default,
                default.deleted_at.is_(None),
            ),
        )
        .where(*conditions)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
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
) -> dict[str, Any]:
    """A page of visible products with their default variant's price, stock and first image.

    Batched, never per product: the page (with its total and default variants), the price
    rules and prices (``pricing.unit_prices``), the stock (``inventory.available``), the images.
    """
    rows = (
        await session.execute(
            storefront_page(q=q, category_id=category_id, limit=limit, offset=offset)
        )
    ).all()
    total = int(rows[0].total) if rows else 0
    if not rows and offset:
        total = int(
            await session.scalar(
                select(func.count()).select_from(
                    storefront_page(q=q, category_id=category_id, limit=10**9, offset=0).subquery()
                )
            )
            or 0
        )
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
            "price": _public_price(ctx.currency, prices.get(r.variant_id)),
            "in_stock": r.variant_id is not None
            and in_stock(r.track_inventory, r.allow_backorder, stock.get(r.variant_id, 0)),
            "image": images.get(r.id),
        }
        for r in rows
    ]
    return {"items": items, "total": total}


async def storefront_product(
    session: AsyncSession, slug: str, ctx: pricing.PricingContext
) -> dict[str, Any]:
    product = await session.scalar(select(Product).where(Product.slug == slug, *visible()))
    if product is None:
        raise NotFound(PRODUCT_NOT_FOUND)
    variants = await _live_variants(session, product.id)
    ids = [v.id for v in variants]
    prices = await pricing.unit_prices(session, dict.fromkeys(ids, 1), ctx)
    stock = await inventory.available(session, [v.id for v in variants if v.track_inventory])
    images = (
        await session.execute(
            select(ProductImage)
            .where(ProductImage.product_id == product.id)
            .order_by(ProductImage.position, ProductImage.id)
        )
    ).scalars()
    options = (await _options(session, [product.id])).get(product.id, [])
    categories = [c for c in await _categories_of(session, product.id) if c.is_active]
    return {
        **_product_fields(product),
        "options": [{"name": o["name"], "values": o["values"]} for o in options],
        "variants": [
            {
                **_variant_fields(v),
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


__all__ = [
    "ListFilters",
    "create_category",
    "create_product",
    "delete_category",
    "delete_product",
    "get_category",
    "get_product",
    "list_categories",
    "list_products",
    "product_detail",
    "set_category_products",
    "slugify",
    "storefront_currency",
    "storefront_page",
    "update_category",
    "update_product",
]


async def count_live_products(session: AsyncSession, store_id: uuid.UUID) -> int:
    """Live products of the store, counted under a per-store lock so two creations at the
    plan's limit cannot both pass the check (the lock lasts until the transaction ends)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 7303))"),
        {"k": f"{store_id}:products"},
    )
    return int(
        await session.scalar(
            select(func.count()).select_from(Product).where(Product.deleted_at.is_(None))
        )
        or 0
    )
