"""Shipping options for a destination, currency, subtotal and weight."""

from __future__ import annotations

import fnmatch
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.pricing.service import require_enabled_currency
from storefleet.commerce.shipping.models import ShippingMethod, ShippingRate, ShippingZone
from storefleet.db.constraints import flush
from storefleet.db.queries import get_or_404
from storefleet.errors import Conflict, InvalidInput
from storefleet.schemas import apply_changes, refuse_nulls


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


# One statement (built once, so its cache key is memoized): the zones with their active
# methods and those methods' rates in the currency.
ZONES_METHODS_RATES = (
    select(ShippingZone, ShippingMethod, ShippingRate)
    .join(
        ShippingMethod,
        (ShippingMethod.store_id == ShippingZone.store_id)
        & (ShippingMethod.zone_id == ShippingZone.id)
        & ShippingMethod.is_active,
    )
    .join(
        ShippingRate,
        (ShippingRate.store_id == ShippingMethod.store_id)
        & (ShippingRate.method_id == ShippingMethod.id)
        & (ShippingRate.currency == bindparam("currency")),
    )
    .order_by(ShippingZone.position, ShippingZone.id)
)


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
    rows = (await session.execute(ZONES_METHODS_RATES, {"currency": currency})).all()
    zone_order: dict[uuid.UUID, int] = {}
    methods: dict[uuid.UUID, ShippingMethod] = {}
    rates: list[ShippingRate] = []
    matches: dict[uuid.UUID, bool] = {}
    for zone, method, rate in rows:
        if zone.id not in matches:
            matches[zone.id] = zone_matches(zone, address)
            if matches[zone.id]:
                zone_order[zone.id] = len(zone_order)
        if matches[zone.id]:
            methods[method.id] = method
            rates.append(rate)
    cheapest: dict[uuid.UUID, int] = {}
    for rate in rates:
        amount = rate_amount(rate, subtotal, weight_grams)
        if amount is not None and amount < cheapest.get(rate.method_id, amount + 1):
            cheapest[rate.method_id] = amount
    options = [
        ShippingOption(m.id, m.code, m.name, cheapest[m.id], currency)
        for m in sorted(methods.values(), key=lambda m: (zone_order[m.zone_id], m.position, m.name))
        if m.id in cheapest
    ]
    return options


# -- admin: zones, methods, rates ---------------------------------------------------------

ZONE_NOT_FOUND = "Shipping zone not found"
METHOD_NOT_FOUND = "Shipping method not found"
RATE_NOT_FOUND = "Shipping rate not found"
RATE_FIELDS = (
    "kind",
    "currency",
    "amount",
    "min_weight_grams",
    "max_weight_grams",
    "min_subtotal",
    "max_subtotal",
    "free_over_amount",
)
_BANDS = {
    "flat": (),
    "weight": ("min_weight_grams", "max_weight_grams"),
    "order_value": ("min_subtotal", "max_subtotal"),
    "free_over": ("free_over_amount",),
}


async def list_zones(session: AsyncSession) -> list[ShippingZone]:
    rows = await session.execute(
        select(ShippingZone).order_by(ShippingZone.position, ShippingZone.name, ShippingZone.id)
    )
    return list(rows.scalars())


async def get_zone(session: AsyncSession, zone_id: uuid.UUID) -> ShippingZone:
    return await get_or_404(session, ShippingZone, zone_id, missing=ZONE_NOT_FOUND)


async def create_zone(
    session: AsyncSession, store_id: uuid.UUID, values: dict[str, Any]
) -> ShippingZone:
    zone = ShippingZone(store_id=store_id, **values)
    session.add(zone)
    await session.flush()
    await session.refresh(zone)
    return zone


async def update_zone(
    session: AsyncSession, zone_id: uuid.UUID, changes: dict[str, Any]
) -> ShippingZone:
    refuse_nulls(changes, ("name", "countries", "regions", "postal_patterns", "position"))
    zone = await get_zone(session, zone_id)
    apply_changes(zone, changes)
    await session.flush()
    await session.refresh(zone)
    return zone


async def delete_zone(session: AsyncSession, zone_id: uuid.UUID) -> None:
    """Its methods and rates go with it (ON DELETE CASCADE)."""
    await session.delete(await get_zone(session, zone_id))
    await session.flush()


def _method_code_taken(code: str) -> Conflict:
    return Conflict(f"This zone already has a method with code {code}", field="code")


async def list_methods(session: AsyncSession, zone_id: uuid.UUID) -> list[ShippingMethod]:
    await get_zone(session, zone_id)
    rows = await session.execute(
        select(ShippingMethod)
        .where(ShippingMethod.zone_id == zone_id)
        .order_by(ShippingMethod.position, ShippingMethod.name, ShippingMethod.id)
    )
    return list(rows.scalars())


async def get_method(session: AsyncSession, method_id: uuid.UUID) -> ShippingMethod:
    return await get_or_404(session, ShippingMethod, method_id, missing=METHOD_NOT_FOUND)


async def create_method(
    session: AsyncSession, store_id: uuid.UUID, zone_id: uuid.UUID, values: dict[str, Any]
) -> ShippingMethod:
    await get_zone(session, zone_id)
    taken = await session.scalar(
        select(ShippingMethod.id).where(
            ShippingMethod.zone_id == zone_id, ShippingMethod.code == values["code"]
        )
    )
    if taken:
        raise _method_code_taken(values["code"])
    method = ShippingMethod(store_id=store_id, zone_id=zone_id, **values)
    session.add(method)
    await flush(session, _method_code_taken(values["code"]))
    await session.refresh(method)
    return method


async def update_method(
    session: AsyncSession, method_id: uuid.UUID, changes: dict[str, Any]
) -> ShippingMethod:
    refuse_nulls(changes, ("name", "code", "description", "is_active", "position"))
    method = await get_method(session, method_id)
    code = changes.get("code")
    if code is not None and code != method.code:
        taken = await session.scalar(
            select(ShippingMethod.id).where(
                ShippingMethod.zone_id == method.zone_id, ShippingMethod.code == code
            )
        )
        if taken:
            raise _method_code_taken(code)
    apply_changes(method, changes)
    await flush(session, _method_code_taken(str(code)))
    await session.refresh(method)
    return method


async def delete_method(session: AsyncSession, method_id: uuid.UUID) -> None:
    await session.delete(await get_method(session, method_id))
    await session.flush()


async def check_rate(session: AsyncSession, values: dict[str, Any]) -> None:
    """A rate's fields must fit its kind: bands ordered, thresholds present, currency on."""
    kind = values["kind"]
    for name in ("min_weight_grams", "max_weight_grams", "min_subtotal", "max_subtotal"):
        if values.get(name) is not None and name not in _BANDS[kind]:
            raise InvalidInput(f"{name} does not apply to a {kind} rate", field=name)
    if kind != "free_over" and values.get("free_over_amount") is not None:
        raise InvalidInput(
            f"free_over_amount does not apply to a {kind} rate", field="free_over_amount"
        )
    if kind == "free_over" and values.get("free_over_amount") is None:
        raise InvalidInput("a free_over rate needs free_over_amount", field="free_over_amount")
    for low, high in (("min_weight_grams", "max_weight_grams"), ("min_subtotal", "max_subtotal")):
        if (
            values.get(low) is not None
            and values.get(high) is not None
            and values[low] > values[high]
        ):
            raise InvalidInput(f"{high} must be at least {low}", field=high)
    await require_enabled_currency(session, values["currency"], field="currency")


async def list_rates(session: AsyncSession, method_id: uuid.UUID) -> list[ShippingRate]:
    await get_method(session, method_id)
    rows = await session.execute(
        select(ShippingRate)
        .where(ShippingRate.method_id == method_id)
        .order_by(ShippingRate.currency, ShippingRate.kind, ShippingRate.amount, ShippingRate.id)
    )
    return list(rows.scalars())


async def _rate(session: AsyncSession, method_id: uuid.UUID, rate_id: uuid.UUID) -> ShippingRate:
    return await get_or_404(
        session,
        ShippingRate,
        rate_id,
        missing=RATE_NOT_FOUND,
        where=[ShippingRate.method_id == method_id],
    )


async def create_rate(
    session: AsyncSession, store_id: uuid.UUID, method_id: uuid.UUID, values: dict[str, Any]
) -> ShippingRate:
    await get_method(session, method_id)
    await check_rate(session, values)
    rate = ShippingRate(store_id=store_id, method_id=method_id, **values)
    session.add(rate)
    await session.flush()
    await session.refresh(rate)
    return rate


async def update_rate(
    session: AsyncSession, method_id: uuid.UUID, rate_id: uuid.UUID, changes: dict[str, Any]
) -> ShippingRate:
    """The merged rate is checked as a whole (changing ``kind`` must clear other bands)."""
    refuse_nulls(changes, ("kind", "currency", "amount"))
    await get_method(session, method_id)
    rate = await _rate(session, method_id, rate_id)
    merged = {name: getattr(rate, name) for name in RATE_FIELDS}
    merged.update(changes)
    await check_rate(session, merged)
    apply_changes(rate, changes)
    await session.flush()
    await session.refresh(rate)
    return rate


async def delete_rate(session: AsyncSession, method_id: uuid.UUID, rate_id: uuid.UUID) -> None:
    await get_method(session, method_id)
    await session.delete(await _rate(session, method_id, rate_id))
    await session.flush()
