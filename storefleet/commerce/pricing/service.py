"""Prices: which amount a variant sells for, in which currency, for whom.

Resolution order for a variant, currency and quantity: the active override price list with
the highest priority whose conditions match (customer group, country, dates) and that has a
row for the variant; else the base price (no price list) with the largest ``min_quantity``
not above the quantity. Then the best matching ``sale`` rule takes its percentage off.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.money import percent_of
from storefleet.commerce.pricing.models import CurrencySetting, Price, PriceRule
from storefleet.errors import InvalidInput


@dataclass(frozen=True)
class PricingContext:
    currency: str
    customer_group: str | None = None
    country: str | None = None
    at: datetime | None = None


@dataclass(frozen=True)
class UnitPrice:
    amount: int
    compare_at_amount: int | None
    price_rule_id: uuid.UUID | None


def _rule_applies(rule: PriceRule, ctx: PricingContext, now: datetime) -> bool:
    if not rule.is_active:
        return False
    if rule.starts_at and rule.starts_at > now:
        return False
    if rule.ends_at and rule.ends_at <= now:
        return False
    if rule.customer_group and rule.customer_group != ctx.customer_group:
        return False
    return not (rule.country and rule.country != ctx.country)


async def currencies(session: AsyncSession) -> list[CurrencySetting]:
    rows = await session.execute(select(CurrencySetting).order_by(CurrencySetting.code))
    return list(rows.scalars())


async def enabled_currencies(session: AsyncSession) -> set[str]:
    rows = await session.execute(select(CurrencySetting.code).where(CurrencySetting.is_enabled))
    return set(rows.scalars())


async def require_enabled_currency(session: AsyncSession, currency: str, *, field: str) -> None:
    """A price or cart in a currency the store has not enabled is refused (422 on ``field``)."""
    enabled = await enabled_currencies(session)
    if currency not in enabled:
        raise InvalidInput(
            f"currency {currency} is not enabled for this store"
            + (f" (enabled: {', '.join(sorted(enabled))})" if enabled else ""),
            field=field,
        )


async def default_currency(session: AsyncSession) -> str | None:
    return await session.scalar(select(CurrencySetting.code).where(CurrencySetting.is_default))


async def unit_prices(
    session: AsyncSession,
    variant_quantities: dict[uuid.UUID, int],
    ctx: PricingContext,
) -> dict[uuid.UUID, UnitPrice]:
    """Unit price of each variant at its quantity; variants without a price are left out."""
    if not variant_quantities:
        return {}
    now = ctx.at or datetime.now(UTC)
    rules = {
        r.id: r
        for r in (await session.execute(select(PriceRule))).scalars()
        if _rule_applies(r, ctx, now)
    }
    rows = (
        await session.execute(
            select(Price).where(
                Price.variant_id.in_(list(variant_quantities)),
                Price.currency == ctx.currency,
                or_(Price.price_rule_id.is_(None), Price.price_rule_id.in_(list(rules) or [None])),
            )
        )
    ).scalars()
    best: dict[uuid.UUID, tuple[tuple[int, int], Price]] = {}
    for price in rows:
        quantity = variant_quantities[price.variant_id]
        if price.min_quantity > quantity:
            continue
        rule = rules.get(price.price_rule_id) if price.price_rule_id else None
        if price.price_rule_id and (rule is None or rule.kind != "override"):
            continue
        rank = (1 + rule.priority if rule else 0, price.min_quantity)
        current = best.get(price.variant_id)
        if current is None or rank > current[0]:
            best[price.variant_id] = (rank, price)
    sale = max(
        (r for r in rules.values() if r.kind == "sale" and r.percent_off_bp),
        key=lambda r: (r.priority, r.percent_off_bp or 0),
        default=None,
    )
    result: dict[uuid.UUID, UnitPrice] = {}
    for variant_id, (_, price) in best.items():
        amount = price.amount
        compare_at = price.compare_at_amount
        rule_id = price.price_rule_id
        if sale is not None and sale.percent_off_bp:
            compare_at = compare_at or amount
            amount -= percent_of(amount, sale.percent_off_bp)
            rule_id = sale.id
        result[variant_id] = UnitPrice(amount, compare_at, rule_id)
    return result


def active_between(starts_at: datetime | None, ends_at: datetime | None, now: datetime) -> bool:
    return (starts_at is None or starts_at <= now) and (ends_at is None or ends_at > now)


__all__ = [
    "PricingContext",
    "UnitPrice",
    "active_between",
    "currencies",
    "default_currency",
    "enabled_currencies",
    "require_enabled_currency",
    "unit_prices",
]
