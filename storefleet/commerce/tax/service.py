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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.money import BASIS_POINTS, round_half_up
from storefleet.commerce.tax.models import TaxClass, TaxRule


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
    class_id = tax_class_id or await default_class_id(session)
    if class_id is None:
        return TaxRates()
    rules = (
        await session.execute(
            select(TaxRule).where(TaxRule.tax_id == class_id, TaxRule.country == country)
        )
    ).scalars()
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
