"""Discounts administration: the discounts, their codes, and the redemptions they were used in.

A discount's fields are checked on the merged row, so a partial update cannot leave it
inconsistent; one that has been redeemed stays for its orders' history and is deactivated
instead of deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.catalog.models import Product, ProductVariant
from storefleet.commerce.pricing.service import require_enabled_currency
from storefleet.commerce.promotions.engine import find_code
from storefleet.commerce.promotions.models import Discount, DiscountCode, DiscountRedemption
from storefleet.db.constraints import flush
from storefleet.db.queries import Rows, get_or_404, paged
from storefleet.errors import Conflict, InvalidInput
from storefleet.schemas import refuse_nulls

NOT_NULL_DISCOUNT_FIELDS = (
    "name",
    "kind",
    "target",
    "value",
    "is_automatic",
    "is_active",
    "combinable",
)
DISCOUNT_NOT_FOUND = "Discount not found"
CODE_NOT_FOUND = "Discount code not found"
CODE_TAKEN = "A discount code with this text already exists in this store"


async def get_discount(session: AsyncSession, discount_id: uuid.UUID) -> Discount:
    """Another store's discount is invisible (RLS) and answers like a missing one."""
    return await get_or_404(session, Discount, discount_id, missing=DISCOUNT_NOT_FOUND)


async def list_discounts(
    session: AsyncSession,
    *,
    limit: int,
    offset: int,
    is_active: bool | None = None,
    is_automatic: bool | None = None,
) -> Rows[Discount]:
    stmt = select(Discount).order_by(Discount.created_at.desc(), Discount.id)
    if is_active is not None:
        stmt = stmt.where(Discount.is_active.is_(is_active))
    if is_automatic is not None:
        stmt = stmt.where(Discount.is_automatic.is_(is_automatic))
    return await paged(session, stmt, limit=limit, offset=offset)


async def _check_ids(
    session: AsyncSession, model: type[Any], ids: Sequence[str], field_name: str
) -> None:
    wanted = {uuid.UUID(str(i)) for i in ids}
    if not wanted:
        return
    found = set((await session.execute(select(model.id).where(model.id.in_(wanted)))).scalars())
    if wanted - found:
        raise InvalidInput("Unknown id in this store's catalog", field=field_name)


async def _validate(session: AsyncSession, d: Discount) -> None:
    """Rules across fields, checked on the merged row so partial updates cannot break them."""
    if d.kind == "free_shipping":
        d.target = "shipping"
    if d.kind == "percentage" and d.value > 10_000:
        raise InvalidInput("A percentage is in basis points, at most 10000", field="value")
    if d.kind == "fixed":
        if not d.currency:
            raise InvalidInput("A fixed discount needs a currency", field="currency")
        await require_enabled_currency(session, d.currency, field="currency")
    if d.kind == "buy_x_get_y":
        if not d.buy_quantity or not d.get_quantity:
            raise InvalidInput(
                "buy_x_get_y needs buy_quantity and get_quantity", field="buy_quantity"
            )
        if d.target == "shipping":
            raise InvalidInput("buy_x_get_y applies to items, not shipping", field="target")
    if d.starts_at and d.ends_at and d.ends_at <= d.starts_at:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")
    if d.usage_limit is not None and d.usage_limit < d.usage_count:
        raise InvalidInput("usage_limit is below the uses already made", field="usage_limit")
    await _check_ids(
        session, Product, d.conditions.get("product_ids") or [], "conditions.product_ids"
    )
    await _check_ids(
        session, ProductVariant, d.conditions.get("variant_ids") or [], "conditions.variant_ids"
    )


async def create_discount(
    session: AsyncSession, store_id: uuid.UUID, fields: dict[str, Any]
) -> Discount:
    discount = Discount(store_id=store_id, usage_count=0, **_defaults(fields))
    await _validate(session, discount)
    session.add(discount)
    await session.flush()
    await session.refresh(discount)
    return discount


def _defaults(fields: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in fields.items() if v is not None}
    values.setdefault("conditions", {})
    values.setdefault("value", 0)
    return values


async def update_discount(
    session: AsyncSession, discount_id: uuid.UUID, changes: dict[str, Any]
) -> Discount:
    discount = await get_discount(session, discount_id)
    refuse_nulls(changes, NOT_NULL_DISCOUNT_FIELDS, "This field cannot be null")
    for name, value in changes.items():
        setattr(discount, name, {} if name == "conditions" and value is None else value)
    await _validate(session, discount)
    await session.flush()
    await session.refresh(discount)
    return discount


async def delete_discount(session: AsyncSession, discount_id: uuid.UUID) -> None:
    """A redeemed discount stays for its orders' history: deactivate it instead."""
    discount = await get_discount(session, discount_id)
    used = await session.scalar(
        select(func.count())
        .select_from(DiscountRedemption)
        .where(DiscountRedemption.discount_id == discount.id)
    )
    if used:
        raise Conflict(
            "This discount has been redeemed; set is_active to false instead", field="discount_id"
        )
    await session.delete(discount)
    await session.flush()


async def add_code(
    session: AsyncSession,
    store_id: uuid.UUID,
    discount_id: uuid.UUID,
    *,
    code: str,
    usage_limit: int | None,
) -> DiscountCode:
    """Codes are unique per store ignoring case (``SAVE10`` and ``save10`` are one code)."""
    discount = await get_discount(session, discount_id)
    if await find_code(session, code) is not None:
        raise Conflict(CODE_TAKEN, field="code")
    row = DiscountCode(
        store_id=store_id,
        discount_id=discount.id,
        code=code.strip(),
        usage_limit=usage_limit,
        usage_count=0,
        is_active=True,
    )
    session.add(row)
    await flush(session, savepoint=True)
    await session.refresh(row)
    return row


async def list_codes(session: AsyncSession, discount_id: uuid.UUID) -> list[DiscountCode]:
    discount = await get_discount(session, discount_id)
    rows = await session.execute(
        select(DiscountCode)
        .where(DiscountCode.discount_id == discount.id)
        .order_by(DiscountCode.created_at, DiscountCode.id)
    )
    return list(rows.scalars())


async def delete_code(session: AsyncSession, discount_id: uuid.UUID, code_id: uuid.UUID) -> None:
    """An unused code is deleted; a redeemed one is kept for history and deactivated."""
    discount = await get_discount(session, discount_id)
    code = await get_or_404(
        session,
        DiscountCode,
        code_id,
        missing=CODE_NOT_FOUND,
        where=[DiscountCode.discount_id == discount.id],
    )
    used = await session.scalar(
        select(func.count())
        .select_from(DiscountRedemption)
        .where(DiscountRedemption.code_id == code.id)
    )
    if used:
        code.is_active = False
    else:
        await session.delete(code)
    await session.flush()


async def list_redemptions(
    session: AsyncSession, discount_id: uuid.UUID, *, limit: int, offset: int
) -> Rows[DiscountRedemption]:
    discount = await get_discount(session, discount_id)
    stmt = (
        select(DiscountRedemption)
        .where(DiscountRedemption.discount_id == discount.id)
        .order_by(DiscountRedemption.created_at.desc(), DiscountRedemption.id)
    )
    return await paged(session, stmt, limit=limit, offset=offset)
