"""Discounts: which apply to a cart, how much each takes, and redeeming them exactly once.

Evaluation is pure arithmetic on the cart's lines. Redemption bumps usage counters with
conditional UPDATEs (``usage_count < usage_limit``), so a code limited to 5 uses is redeemed
exactly 5 times however many checkouts race for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.money import allocate, percent_of
from storefleet.commerce.promotions.models import Discount, DiscountCode, DiscountRedemption
from storefleet.db.locks import Seed
from storefleet.errors import Conflict, InvalidInput

UNKNOWN_CODE = "This discount code is not valid"
DISCOUNT_LIMIT = "This discount has reached its usage limit"
CODE_LIMIT = "This discount code has reached its usage limit"
CUSTOMER_LIMIT = "You have already used this discount"
LIMIT_REASONS = frozenset({DISCOUNT_LIMIT, CODE_LIMIT, CUSTOMER_LIMIT})


@dataclass(frozen=True)
class PricedLine:
    variant_id: uuid.UUID
    product_id: uuid.UUID
    quantity: int
    unit_amount: int

    @property
    def subtotal(self) -> int:
        return self.quantity * self.unit_amount


@dataclass
class AppliedDiscount:
    discount_id: uuid.UUID
    code_id: uuid.UUID | None
    code: str | None
    name: str
    kind: str
    combinable: bool
    line_amounts: list[int] = field(default_factory=list)
    shipping_amount: int = 0

    @property
    def amount(self) -> int:
        return sum(self.line_amounts) + self.shipping_amount


@dataclass
class DiscountResult:
    applied: list[AppliedDiscount]
    line_discounts: list[int]
    shipping_discount: int

    @property
    def items_discount(self) -> int:
        return sum(self.line_discounts)

    @property
    def total(self) -> int:
        return self.items_discount + self.shipping_discount


def _eligible(discount: Discount, line: PricedLine) -> bool:
    products = discount.conditions.get("product_ids")
    if products and str(line.product_id) not in {str(p) for p in products}:
        return False
    variants = discount.conditions.get("variant_ids")
    return not (variants and str(line.variant_id) not in {str(v) for v in variants})


def _compute(
    discount: Discount, lines: Sequence[PricedLine], shipping: int, currency: str
) -> tuple[list[int], int] | None:
    """(per-line amounts, shipping amount), or None when the discount gives nothing here."""
    eligible = [i for i, line in enumerate(lines) if _eligible(discount, line)]
    amounts = [0] * len(lines)
    eligible_total = sum(lines[i].subtotal for i in eligible)
    if discount.kind == "free_shipping":
        return (amounts, shipping) if shipping > 0 else None
    if discount.kind == "percentage":
        if discount.target == "shipping":
            cut = percent_of(shipping, int(discount.value))
            return (amounts, cut) if cut else None
        cut = percent_of(eligible_total, int(discount.value))
    elif discount.kind == "fixed":
        if discount.currency != currency:
            return None
        if discount.target == "shipping":
            cut = min(int(discount.value), shipping)
            return (amounts, cut) if cut else None
        cut = min(int(discount.value), eligible_total)
    elif discount.kind == "buy_x_get_y":
        buy, get = int(discount.buy_quantity or 0), int(discount.get_quantity or 0)
        units = sorted(
            (lines[i].unit_amount, i) for i in eligible for _ in range(lines[i].quantity)
        )
        free = (len(units) // (buy + get)) * get if buy + get else 0
        for unit_amount, i in units[:free]:
            amounts[i] += unit_amount
        return (amounts, 0) if free and sum(amounts) else None
    else:
        return None
    if cut <= 0:
        return None
    for i, part in zip(eligible, allocate(cut, [lines[i].subtotal for i in eligible]), strict=True):
        amounts[i] = part
    return amounts, 0


def _usable(discount: Discount, now: datetime, subtotal: int, currency: str) -> str | None:
    """Why a discount cannot be used now, or None."""
    if not discount.is_active:
        return "This discount is not active"
    if discount.starts_at and discount.starts_at > now:
        return "This discount has not started yet"
    if discount.ends_at and discount.ends_at <= now:
        return "This discount has expired"
    if discount.usage_limit is not None and discount.usage_count >= discount.usage_limit:
        return DISCOUNT_LIMIT
    minimum = discount.conditions.get("min_subtotal")
    if isinstance(minimum, dict):
        needed = minimum.get(currency)
        if needed is not None and subtotal < int(needed):
            return "The order does not reach this discount's minimum"
    elif isinstance(minimum, int) and subtotal < minimum:
        return "The order does not reach this discount's minimum"
    return None


async def find_code(session: AsyncSession, code: str) -> DiscountCode | None:
    """Case-insensitive; another store's code is invisible (RLS) and answers like a typo."""
    return (
        await session.execute(
            select(DiscountCode).where(func.lower(DiscountCode.code) == code.strip().lower())
        )
    ).scalar_one_or_none()


async def check_code(
    session: AsyncSession, code: str, *, subtotal: int, currency: str, field_name: str = "code"
) -> DiscountCode:
    """Validate a code before it is stored on a cart (422 naming the field)."""
    found = await find_code(session, code)
    if found is None or not found.is_active:
        raise InvalidInput(UNKNOWN_CODE, field=field_name)
    if found.usage_limit is not None and found.usage_count >= found.usage_limit:
        raise InvalidInput("This discount code has reached its usage limit", field=field_name)
    discount = await session.get(Discount, (found.store_id, found.discount_id))
    assert discount is not None
    reason = _usable(discount, datetime.now(UTC), subtotal, currency)
    if reason:
        raise InvalidInput(reason, field=field_name)
    return found


async def _customer_uses(session: AsyncSession, discount_id: uuid.UUID, email: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(DiscountRedemption)
            .where(
                DiscountRedemption.discount_id == discount_id,
                func.lower(DiscountRedemption.customer_email) == email.lower(),
            )
        )
        or 0
    )


# Built once: a reused statement keeps its cache key (SQLAlchemy memoizes it per object).
AUTOMATIC_DISCOUNTS = select(Discount).where(Discount.is_automatic, Discount.is_active)


async def evaluate(
    session: AsyncSession,
    *,
    codes: Sequence[str],
    lines: Sequence[PricedLine],
    shipping: int,
    currency: str,
    email: str | None,
    now: datetime | None = None,
    strict: bool = True,
    limit_conflict: bool = False,
) -> DiscountResult:
    """The discounts a cart gets: its codes (refused with 422 when ``strict``) and automatic ones.

    Non-combinable discounts never stack: the single best one competes with the sum of the
    combinable ones, and the larger total wins. With ``limit_conflict`` (checkout), a code
    whose usage limit was reached since it was applied is a 409 naming ``code``, the same
    answer ``redeem`` gives when it loses the race for the last use.
    """
    if not codes and not lines and shipping <= 0:
        return DiscountResult([], [], 0)  # no discount can give anything: skip the read
    now = now or datetime.now(UTC)
    subtotal = sum(line.subtotal for line in lines)
    candidates: list[tuple[Discount, DiscountCode | None]] = []
    seen: set[uuid.UUID] = set()
    for raw in codes:
        code = await find_code(session, raw)
        if code is None or not code.is_active:
            if strict:
                raise InvalidInput(UNKNOWN_CODE, field="code")
            continue
        discount = await session.get(Discount, (code.store_id, code.discount_id))
        assert discount is not None
        reason = _usable(discount, now, subtotal, currency)
        if reason is None and code.usage_limit is not None and code.usage_count >= code.usage_limit:
            reason = CODE_LIMIT
        if reason is None and email and discount.usage_limit_per_customer is not None:
            if (
                await _customer_uses(session, discount.id, email)
                >= discount.usage_limit_per_customer
            ):
                reason = CUSTOMER_LIMIT
        if reason:
            if strict and limit_conflict and reason in LIMIT_REASONS:
                raise Conflict(reason, field="code")
            if strict:
                raise InvalidInput(reason, field="code")
            continue
        if discount.id not in seen:
            seen.add(discount.id)
            candidates.append((discount, code))
    automatic = (await session.execute(AUTOMATIC_DISCOUNTS)).scalars()
    for discount in automatic:
        if discount.id not in seen and _usable(discount, now, subtotal, currency) is None:
            seen.add(discount.id)
            candidates.append((discount, None))

    computed: list[AppliedDiscount] = []
    for discount, code in candidates:
        result = _compute(discount, lines, shipping, currency)
        if result is None:
            continue
        computed.append(
            AppliedDiscount(
                discount_id=discount.id,
                code_id=code.id if code else None,
                code=code.code if code else None,
                name=discount.name,
                kind=discount.kind,
                combinable=discount.combinable,
                line_amounts=result[0],
                shipping_amount=result[1],
            )
        )
    combinable = [d for d in computed if d.combinable]
    best_single = max(
        (d for d in computed if not d.combinable), key=lambda d: d.amount, default=None
    )
    chosen = combinable
    if best_single is not None and best_single.amount >= sum(d.amount for d in combinable):
        chosen = [best_single]
    line_discounts = [0] * len(lines)
    shipping_discount = 0
    applied: list[AppliedDiscount] = []
    for d in chosen:
        for i, part in enumerate(d.line_amounts):
            room = lines[i].subtotal - line_discounts[i]
            take = min(part, room)
            d.line_amounts[i] = take
            line_discounts[i] += take
        d.shipping_amount = min(d.shipping_amount, shipping - shipping_discount)
        shipping_discount += d.shipping_amount
        if d.amount:
            applied.append(d)
    return DiscountResult(applied, line_discounts, shipping_discount)


async def redeem(
    session: AsyncSession,
    store_id: uuid.UUID,
    applied: Sequence[AppliedDiscount],
    *,
    order_id: uuid.UUID,
    email: str,
    customer_id: uuid.UUID | None,
) -> None:
    """Count each discount's use; a limit reached meanwhile refuses the whole checkout (409)."""
    for d in applied:
        bumped = await session.execute(
            text(
                "UPDATE discounts SET usage_count = usage_count + 1, updated_at = now() "
                "WHERE store_id = :s AND id = :id "
                "AND (usage_limit IS NULL OR usage_count < usage_limit) RETURNING id"
            ),
            {"s": store_id, "id": d.discount_id},
        )
        if bumped.first() is None:
            raise Conflict(DISCOUNT_LIMIT, field="code")
        if d.code_id is not None:
            bumped = await session.execute(
                text(
                    "UPDATE discount_codes SET usage_count = usage_count + 1, updated_at = now() "
                    "WHERE store_id = :s AND id = :id "
                    "AND (usage_limit IS NULL OR usage_count < usage_limit) RETURNING id"
                ),
                {"s": store_id, "id": d.code_id},
            )
            if bumped.first() is None:
                raise Conflict(CODE_LIMIT, field="code")
        discount = await session.get(Discount, (store_id, d.discount_id))
        if discount is not None and discount.usage_limit_per_customer is not None:
            await session.execute(
                text(f"SELECT pg_advisory_xact_lock({Seed.CUSTOMER_EMAIL.sql()})"),
                {"k": f"{d.discount_id}:{email.lower()}"},
            )
            if (
                await _customer_uses(session, d.discount_id, email)
                >= discount.usage_limit_per_customer
            ):
                raise Conflict(CUSTOMER_LIMIT, field="code")
        session.add(
            DiscountRedemption(
                store_id=store_id,
                discount_id=d.discount_id,
                code_id=d.code_id,
                order_id=order_id,
                customer_id=customer_id,
                customer_email=email,
                amount=d.amount,
            )
        )
    await session.flush()
