"""Tax: which rates apply to a product's tax class at a destination, and the arithmetic.

Rules for the class and country are matched by specificity (postal pattern beats region
beats country) and grouped by priority. Non-compound rates at the chosen priority add up;
compound rates apply on top of the amount plus the taxes before them. Prices may be entered
with tax included (a store setting); the tax is then taken out of the gross amount.
"""

from __future__ import annotations

import fnmatch
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.money import BASIS_POINTS, round_half_up
from storefleet.commerce.store.models import StoreProfile
from storefleet.commerce.tax.models import TaxClass, TaxRule
from storefleet.db.constraints import flush
from storefleet.db.ids import uuid7
from storefleet.db.queries import get_or_404
from storefleet.errors import Conflict, InvalidInput, NotFound
from storefleet.schemas import apply_changes, refuse_nulls


@dataclass(frozen=True)
class AppliedRate:
    rule_id: uuid.UUID
    name: str
    rate_bp: int
    is_compound: bool


@dataclass(frozen=True)
class TaxRates:
    rates: tuple[AppliedRate, ...] = ()

    @property
    def multiplier(self) -> Fraction:
        """Gross / net: (1 + sum of simple rates) * product of (1 + compound rate)."""
        simple = sum(r.rate_bp for r in self.rates if not r.is_compound)
        factor = Fraction(BASIS_POINTS + simple, BASIS_POINTS)
        for rate in self.rates:
            if rate.is_compound:
                factor *= Fraction(BASIS_POINTS + rate.rate_bp, BASIS_POINTS)
        return factor

    @property
    def effective_bp(self) -> int:
        return round_half_up(
            (self.multiplier - 1).numerator * BASIS_POINTS, (self.multiplier - 1).denominator
        )

    def tax_on_net(self, net: int) -> int:
        """Tax added to a tax-exclusive amount."""
        if not self.rates:
            return 0
        exact = net * (self.multiplier - 1)
        return round_half_up(exact.numerator, exact.denominator)

    def tax_in_gross(self, gross: int) -> int:
        """Tax contained in a tax-inclusive amount."""
        if not self.rates:
            return 0
        net = gross / self.multiplier
        return gross - round_half_up(net.numerator, net.denominator)


def _specificity(rule: TaxRule, region: str | None, postal: str | None) -> int | None:
    """None when the rule does not match; higher is more specific."""
    score = 0
    if rule.region:
        if not region or rule.region.casefold() != region.casefold():
            return None
        score += 1
    if rule.postal_pattern:
        if not postal or not fnmatch.fnmatchcase(
            postal.upper().replace(" ", ""), rule.postal_pattern.upper()
        ):
            return None
        score += 2
    return score


async def default_class_id(session: AsyncSession) -> uuid.UUID | None:
    return await session.scalar(select(TaxClass.id).where(TaxClass.is_default))


async def rates_for(
    session: AsyncSession,
    tax_class_id: uuid.UUID | None,
    address: dict[str, Any] | None,
    *,
    cache: dict[tuple[uuid.UUID | None, str, str, str], TaxRates] | None = None,
) -> TaxRates:
    """Rates for a tax class (the default class when None) at ``address``."""
    if not address or not address.get("country"):
        return TaxRates()
    country = str(address["country"]).upper()
    region = address.get("region") or None
    postal = address.get("postal_code") or None
    key = (tax_class_id, country, str(region), str(postal))
    if cache is not None and key in cache:
        return cache[key]
    params: dict[str, Any] = {"country": country, "class_id": tax_class_id}
    query = RULES_OF_DEFAULT_CLASS if tax_class_id is None else RULES_OF_CLASS
    rules = (await session.execute(query, params)).scalars()
    matches = [(s, r) for r in rules if (s := _specificity(r, region, postal)) is not None]
    if not matches:
        result = TaxRates()
    else:
        top_priority = max(r.priority for _, r in matches)
        at_top = [(s, r) for s, r in matches if r.priority == top_priority]
        best = max(s for s, r in at_top)
        chosen = sorted(
            (r for s, r in at_top if s == best), key=lambda r: (r.is_compound, r.name, str(r.id))
        )
        result = TaxRates(
            tuple(AppliedRate(r.id, r.name, r.rate_bp, r.is_compound) for r in chosen)
        )
    if cache is not None:
        cache[key] = result
    return result


# -- admin: tax classes, rules and the prices-include-tax setting --------------------------

TAX_CLASS_NOT_FOUND = "Tax class not found"
TAX_RULE_NOT_FOUND = "Tax rule not found"
PRICES_INCLUDE_TAX = "prices_include_tax"


STORE_SETTINGS = select(StoreProfile.settings)  # built once: its cache key is memoized
RULES_OF_CLASS = select(TaxRule).where(
    TaxRule.tax_id == bindparam("class_id"), TaxRule.country == bindparam("country")
)
# No class given: the default class is looked up in the same statement (none: no rules).
RULES_OF_DEFAULT_CLASS = select(TaxRule).where(
    TaxRule.tax_id == select(TaxClass.id).where(TaxClass.is_default).scalar_subquery(),
    TaxRule.country == bindparam("country"),
)


async def prices_include_tax(session: AsyncSession) -> bool:
    """Whether the store's prices are entered with tax included (``stores.settings``)."""
    settings = await session.scalar(STORE_SETTINGS)
    return bool((settings or {}).get(PRICES_INCLUDE_TAX, False))


async def set_prices_include_tax(session: AsyncSession, value: bool) -> bool:
    profile = (await session.execute(select(StoreProfile).with_for_update())).scalar_one_or_none()
    if profile is None:
        raise NotFound("Store not found")
    profile.settings = {**(profile.settings or {}), PRICES_INCLUDE_TAX: bool(value)}
    await session.flush()
    return bool(value)


async def list_classes(session: AsyncSession) -> list[TaxClass]:
    rows = await session.execute(
        select(TaxClass).order_by(TaxClass.is_default.desc(), TaxClass.name, TaxClass.id)
    )
    return list(rows.scalars())


async def get_class(
    session: AsyncSession, class_id: uuid.UUID, *, for_update: bool = False
) -> TaxClass:
    return await get_or_404(
        session, TaxClass, class_id, missing=TAX_CLASS_NOT_FOUND, lock=for_update
    )


def _code_taken(code: str) -> Conflict:
    return Conflict(f"A tax class with code {code} already exists", field="code")


async def _take_default(session: AsyncSession, keep: uuid.UUID) -> None:
    """Only one default class: the old one gives it up first, in the same transaction."""
    await session.execute(
        update(TaxClass)
        .where(TaxClass.is_default.is_(True), TaxClass.id != keep)
        .values(is_default=False)
        .execution_options(synchronize_session=False)
    )


async def create_class(
    session: AsyncSession, store_id: uuid.UUID, values: dict[str, Any]
) -> TaxClass:
    """The store's first class becomes the default."""
    if await session.scalar(select(TaxClass.id).where(TaxClass.code == values["code"])):
        raise _code_taken(values["code"])
    first = await default_class_id(session) is None
    class_id = uuid7()
    is_default = bool(values.pop("is_default", False)) or first
    if is_default:
        await _take_default(session, class_id)
    tax_class = TaxClass(store_id=store_id, id=class_id, is_default=is_default, **values)
    session.add(tax_class)
    await flush(session, _code_taken(values["code"]))
    await session.refresh(tax_class)
    return tax_class


async def update_class(
    session: AsyncSession, class_id: uuid.UUID, changes: dict[str, Any]
) -> TaxClass:
    tax_class = await get_class(session, class_id, for_update=True)
    refuse_nulls(changes, ("name", "code", "description", "is_default"))
    if changes.get("is_default") is False and tax_class.is_default:
        raise InvalidInput(
            "make another class the default instead of unsetting this one", field="is_default"
        )
    code = changes.get("code")
    if code is not None and code != tax_class.code:
        taken = await session.scalar(
            select(TaxClass.id).where(TaxClass.code == code, TaxClass.id != class_id)
        )
        if taken:
            raise _code_taken(code)
    if changes.get("is_default"):
        await _take_default(session, class_id)
    apply_changes(tax_class, changes)
    await flush(session, _code_taken(str(code)))
    await session.refresh(tax_class)
    return tax_class


async def delete_class(session: AsyncSession, class_id: uuid.UUID) -> None:
    """Rules go with the class; products using it fall back to the default class."""
    tax_class = await get_class(session, class_id, for_update=True)
    if tax_class.is_default:
        others = await session.scalar(
            select(func.count()).select_from(TaxClass).where(TaxClass.id != class_id)
        )
        if others:
            raise Conflict("Make another class the default before deleting this one")
    await session.delete(tax_class)
    await session.flush()


async def list_rules(session: AsyncSession, class_id: uuid.UUID) -> list[TaxRule]:
    await get_class(session, class_id)
    rows = await session.execute(
        select(TaxRule)
        .where(TaxRule.tax_id == class_id)
        .order_by(TaxRule.country, TaxRule.priority.desc(), TaxRule.name, TaxRule.id)
    )
    return list(rows.scalars())


async def _rule(session: AsyncSession, class_id: uuid.UUID, rule_id: uuid.UUID) -> TaxRule:
    return await get_or_404(
        session, TaxRule, rule_id, missing=TAX_RULE_NOT_FOUND, where=[TaxRule.tax_id == class_id]
    )


async def create_rule(
    session: AsyncSession, store_id: uuid.UUID, class_id: uuid.UUID, values: dict[str, Any]
) -> TaxRule:
    await get_class(session, class_id, for_update=True)
    rule = TaxRule(store_id=store_id, tax_id=class_id, **values)
    session.add(rule)
    await session.flush()
    await session.refresh(rule)
    return rule


async def update_rule(
    session: AsyncSession, class_id: uuid.UUID, rule_id: uuid.UUID, changes: dict[str, Any]
) -> TaxRule:
    await get_class(session, class_id)
    rule = await _rule(session, class_id, rule_id)
    refuse_nulls(changes, ("name", "country", "rate_bp", "priority", "is_compound"))
    apply_changes(rule, changes)
    await session.flush()
    await session.refresh(rule)
    return rule


async def delete_rule(session: AsyncSession, class_id: uuid.UUID, rule_id: uuid.UUID) -> None:
    await get_class(session, class_id)
    await session.delete(await _rule(session, class_id, rule_id))
    await session.flush()
