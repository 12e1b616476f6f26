"""A product's variants as a nested write leaves them: planned and validated first (options,
SKU, barcode, one default), then written.

Nothing is written until every variant of the request passed, so the client gets one 422 or
409 naming the field and the transaction has nothing to undo.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.catalog.models import Product, ProductVariant
from storefleet.commerce.catalog.schemas import OptionIn, VariantFields
from storefleet.db.constraints import flush
from storefleet.db.ids import uuid7
from storefleet.errors import Conflict, InvalidInput


@dataclass
class Plan:
    """A variant as it will be after the write: the row (existing or new) and its input."""

    row: ProductVariant
    body: VariantFields | None
    field: str  # ``variants.3`` for variants in the request, else ``variants``


async def plan_variants(
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


async def write_variants(
    session: AsyncSession,
    product: Product,
    existing: dict[uuid.UUID, ProductVariant],
    plans: dict[uuid.UUID, Plan],
    removing: set[uuid.UUID],
    default_id: uuid.UUID,
    creating: bool,
) -> None:
    stamp = datetime.now(UTC)
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


def declared_options(options: list[OptionIn]) -> dict[str, list[str]]:
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
                    ProductVariant.live(),
                    ProductVariant.id.not_in(mine),
                )
            )
        ).scalars()
        clashes = set(taken)
        for value, target in seen.items():
            if value in clashes:
                raise Conflict(f"{name} {value!r} is already in use", field=target)


def pick_default(plans: dict[uuid.UUID, Plan]) -> uuid.UUID:
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
