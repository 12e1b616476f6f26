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
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.money import percent_of
from storefleet.commerce.pricing.models import CurrencySetting, Price, PriceRule
from storefleet.db.ids import uuid7
from storefleet.db.queries import Rows, get_or_404, paged
from storefleet.errors import Conflict, InvalidInput
from storefleet.schemas import MUST_NOT, apply_changes, refuse_nulls

# Built once: a reused statement keeps its cache key (SQLAlchemy memoizes it per object).
ALL_RULES = select(PriceRule)
PRICES_FOR = select(Price).where(
    Price.variant_id.in_(bindparam("variants", expanding=True)),
    Price.currency == bindparam("currency"),
    or_(Price.price_rule_id.is_(None), Price.price_rule_id.in_(bindparam("rules", expanding=True))),
)


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
        r.id: r for r in (await session.execute(ALL_RULES)).scalars() if _rule_applies(r, ctx, now)
    }
    params = {"variants": list(variant_quantities), "currency": ctx.currency, "rules": list(rules)}
    rows = (await session.execute(PRICES_FOR, params)).scalars()
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


# --- administration: price rules and currencies -------------------------------------------

RULE_NOT_FOUND = "Price rule not found"
NOT_NULL_RULE_FIELDS = ("name", "kind", "priority", "is_active")


async def list_rules(
    session: AsyncSession, *, limit: int, offset: int, kind: str | None = None
) -> Rows[PriceRule]:
    stmt = select(PriceRule).order_by(PriceRule.priority.desc(), PriceRule.created_at, PriceRule.id)
    if kind is not None:
        stmt = stmt.where(PriceRule.kind == kind)
    return await paged(session, stmt, limit=limit, offset=offset)


async def get_rule(
    session: AsyncSession, rule_id: uuid.UUID, *, for_update: bool = False
) -> PriceRule:
    return await get_or_404(session, PriceRule, rule_id, missing=RULE_NOT_FOUND, lock=for_update)


def _check_rule(rule: PriceRule) -> None:
    if rule.kind == "sale" and not rule.percent_off_bp:
        raise InvalidInput("a sale needs percent_off_bp above 0", field="percent_off_bp")
    if rule.kind == "override" and rule.percent_off_bp is not None:
        raise InvalidInput(
            "an override price list sets prices per variant, not a percentage",
            field="percent_off_bp",
        )
    if rule.starts_at and rule.ends_at and rule.ends_at <= rule.starts_at:
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")


async def create_rule(
    session: AsyncSession, store_id: uuid.UUID, fields: dict[str, Any]
) -> PriceRule:
    rule = PriceRule(store_id=store_id, id=uuid7(), **fields)
    _check_rule(rule)
    session.add(rule)
    await session.flush()
    return rule


async def update_rule(
    session: AsyncSession, rule_id: uuid.UUID, fields: dict[str, Any]
) -> PriceRule:
    rule = await get_rule(session, rule_id, for_update=True)
    refuse_nulls(fields, NOT_NULL_RULE_FIELDS, MUST_NOT)
    apply_changes(rule, fields)
    _check_rule(rule)
    rule.updated_at = datetime.now(UTC)
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, rule_id: uuid.UUID) -> None:
    """Deleting a price list deletes its override prices with it (ON DELETE CASCADE)."""
    rule = await get_rule(session, rule_id)
    await session.delete(rule)
    await session.flush()


async def set_currency(
    session: AsyncSession, store_id: uuid.UUID, code: str, fields: dict[str, Any]
) -> CurrencySetting:
    """Enable, disable, rate, or make default; exactly one enabled default, always.

    Another currency becomes the default by setting ``is_default`` on it; the current default
    cannot be disabled or un-defaulted directly (409), so the store is never without one.
    """
    rows = {
        c.code: c
        for c in (await session.execute(select(CurrencySetting).with_for_update())).scalars()
    }
    row = rows.get(code)
    was_default = row is not None and row.is_default
    enabled = fields.get("is_enabled")
    if enabled is None:
        enabled = row.is_enabled if row is not None else True
    default = fields.get("is_default")
    if default is None:
        default = was_default
    if was_default and not default:
        raise Conflict(
            "the store always has a default currency; make another currency the default",
            field="is_default",
        )
    if default and not enabled:
        raise Conflict(
            "the default currency must stay enabled",
            field="is_enabled" if was_default else "is_default",
        )
    stamp = datetime.now(UTC)
    if default and not was_default:
        # Clear the old default first: the one-default index is checked row by row.
        for other in rows.values():
            if other.is_default:
                other.is_default, other.updated_at = False, stamp
        await session.flush()
    if row is None:
        row = CurrencySetting(store_id=store_id, id=uuid7(), code=code, exchange_rate=Decimal(1))
        session.add(row)
    row.is_enabled, row.is_default, row.updated_at = enabled, default, stamp
    if fields.get("exchange_rate") is not None:
        row.exchange_rate = fields["exchange_rate"]
    await session.flush()
    return row


def active_between(starts_at: datetime | None, ends_at: datetime | None, now: datetime) -> bool:
    return (starts_at is None or starts_at <= now) and (ends_at is None or ends_at > now)


__all__ = [
    "CurrencySetting",
    "PricingContext",
    "UnitPrice",
    "active_between",
    "create_rule",
    "currencies",
    "default_currency",
    "delete_rule",
    "enabled_currencies",
    "get_rule",
    "list_rules",
    "require_enabled_currency",
    "set_currency",
    "unit_prices",
    "update_rule",
]
