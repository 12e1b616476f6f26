"""Shipping options for a destination, currency, subtotal and weight."""

from __future__ import annotations

import fnmatch
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.shipping.models import ShippingMethod, ShippingRate, ShippingZone


@dataclass(frozen=True)
class ShippingOption:
    method_id: uuid.UUID
    code: str
    name: str
    amount: int
    currency: str

    def snapshot(self) -> dict[str, Any]:
        return {
            "method_id": str(self.method_id),
            "code": self.code,
            "name": self.name,
            "amount": self.amount,
            "currency": self.currency,
        }


def zone_matches(zone: ShippingZone, address: dict[str, Any]) -> bool:
    country = str(address.get("country") or "").upper()
    if zone.countries and country not in zone.countries:
        return False
    region = (address.get("region") or "").casefold()
    if zone.regions and region not in {r.casefold() for r in zone.regions}:
        return False
    postal = str(address.get("postal_code") or "").upper().replace(" ", "")
    if zone.postal_patterns and not any(
        fnmatch.fnmatchcase(postal, p.upper()) for p in zone.postal_patterns
    ):
        return False
    return True


def rate_amount(rate: ShippingRate, subtotal: int, weight_grams: int) -> int | None:
    """What this rate charges, or None when it does not apply."""
    if rate.kind == "flat":
        return rate.amount
    if rate.kind == "weight":
        if rate.min_weight_grams is not None and weight_grams < rate.min_weight_grams:
            return None
        if rate.max_weight_grams is not None and weight_grams > rate.max_weight_grams:
            return None
        return rate.amount
    if rate.kind == "order_value":
        if rate.min_subtotal is not None and subtotal < rate.min_subtotal:
            return None
        if rate.max_subtotal is not None and subtotal > rate.max_subtotal:
            return None
        return rate.amount
    if rate.kind == "free_over":
        assert rate.free_over_amount is not None
        return 0 if subtotal >= rate.free_over_amount else rate.amount
    return None


async def options_for(
    session: AsyncSession,
    *,
    address: dict[str, Any] | None,
    currency: str,
    subtotal: int,
    weight_grams: int,
) -> list[ShippingOption]:
    """Every active method of a matching zone with a rate in ``currency``, cheapest rate each."""
    if not address or not address.get("country"):
        return []
    zones = [
        z
        for z in (
            await session.execute(select(ShippingZone).order_by(ShippingZone.position))
        ).scalars()
        if zone_matches(z, address)
    ]
    if not zones:
        return []
    zone_order = {z.id: i for i, z in enumerate(zones)}
    methods = list(
        (
            await session.execute(
                select(ShippingMethod).where(
                    ShippingMethod.zone_id.in_(list(zone_order)), ShippingMethod.is_active
                )
            )
        ).scalars()
    )
    if not methods:
        return []
    rates = (
        await session.execute(
            select(ShippingRate).where(
                ShippingRate.method_id.in_([m.id for m in methods]),
                ShippingRate.currency == currency,
            )
        )
    ).scalars()
    cheapest: dict[uuid.UUID, int] = {}
    for rate in rates:
        amount = rate_amount(rate, subtotal, weight_grams)
        if amount is not None and amount < cheapest.get(rate.method_id, amount + 1):
            cheapest[rate.method_id] = amount
    options = [
        ShippingOption(m.id, m.code, m.name, cheapest[m.id], currency)
        for m in sorted(methods, key=lambda m: (zone_order[m.zone_id], m.position, m.name))
        if m.id in cheapest
    ]
    return options
