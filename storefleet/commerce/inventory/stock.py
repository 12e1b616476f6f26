"""Stock: reservations and movements by conditional UPDATE, never read-then-write.

``on_hand - reserved`` is what can still be sold. Reserving is one UPDATE that succeeds only
while enough is available, so concurrent checkouts for the last units can never oversell;
the CHECK constraints (all counts ≥ 0) are the last wall.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, cast, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.catalog.models import ProductVariant
from storefleet.commerce.inventory.models import (
    InventoryAdjustment,
    InventoryLevel,
    InventoryLocation,
    InventoryReservation,
)
from storefleet.errors import Conflict, InvalidInput, NotFound
from storefleet.schemas import INT32_MAX


@dataclass(frozen=True)
class StockLine:
    variant_id: uuid.UUID
    quantity: int
    field: str = "items"


MAX_UNITS = INT32_MAX  # on_hand and reserved are INTEGER columns

RESERVE_AT_LOCATION = text(
    "UPDATE inventory SET reserved = reserved + :q, updated_at = now() "
    "WHERE store_id = :store AND variant_id = :v AND location_id = :loc "
    "AND reserved::bigint + :q <= :max "
    "AND (:backorder OR on_hand - reserved >= :q) RETURNING location_id"
)


async def default_location(session: AsyncSession) -> InventoryLocation | None:
    return (
        await session.execute(
            select(InventoryLocation)
            .where(InventoryLocation.is_active)
            .order_by(InventoryLocation.is_default.desc(), InventoryLocation.created_at)
            .limit(1)
        )
    ).scalar_one_or_none()


async def available(
    session: AsyncSession, variant_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """Sellable units per variant, over active locations."""
    if not variant_ids:
        return {}
    rows = await session.execute(
        select(InventoryLevel.variant_id, InventoryLevel.on_hand - InventoryLevel.reserved)
        .join(
            InventoryLocation,
            (InventoryLocation.store_id == InventoryLevel.store_id)
            & (InventoryLocation.id == InventoryLevel.location_id),
        )
        .where(InventoryLevel.variant_id.in_(list(variant_ids)), InventoryLocation.is_active)
    )
    out: dict[uuid.UUID, int] = {v: 0 for v in variant_ids}
    for variant_id, units in rows:
        out[variant_id] += max(0, int(units))
    return out


async def reserve(
    session: AsyncSession,
    store_id: uuid.UUID,
    lines: Sequence[StockLine],
    *,
    order_id: uuid.UUID | None = None,
    cart_id: uuid.UUID | None = None,
    kind: str = "order_allocation",
    expires_at: datetime | None = None,
    variants: Mapping[uuid.UUID, ProductVariant] | None = None,
) -> list[InventoryReservation]:
    """Reserve every line or raise Conflict naming the first line that cannot be had.

    ``variants``: the lines' variant rows when the caller has just read them (checkout)."""
    if variants is None:
        variants = {
            v.id: v
            for v in (
                await session.execute(
                    select(ProductVariant).where(
                        ProductVariant.id.in_([line.variant_id for line in lines])
                    )
                )
            ).scalars()
        }
    made: list[InventoryReservation] = []
    for line in sorted(lines, key=lambda item: str(item.variant_id)):
        variant = variants.get(line.variant_id)
        if variant is None:
            raise InvalidInput("unknown variant", field=line.field)
        if not variant.track_inventory:
            continue
        locations = (
            await session.execute(
                select(InventoryLevel.location_id)
                .join(
                    InventoryLocation,
                    (InventoryLocation.store_id == InventoryLevel.store_id)
                    & (InventoryLocation.id == InventoryLevel.location_id),
                )
                .where(InventoryLevel.variant_id == line.variant_id, InventoryLocation.is_active)
                .order_by(
                    InventoryLocation.is_default.desc(),
                    (InventoryLevel.on_hand - InventoryLevel.reserved).desc(),
                )
            )
        ).scalars()
        reserved_at = None
        for location_id in locations:
            if await _reserve_at(session, store_id, line, location_id, backorder=False):
                reserved_at = location_id
                break
        if reserved_at is None and variant.allow_backorder:
            fallback = await default_location(session)
            if fallback is not None:
                await _ensure_level(session, store_id, line.variant_id, fallback.id)
                if await _reserve_at(session, store_id, line, fallback.id, backorder=True):
                    reserved_at = fallback.id
        if reserved_at is None:
            raise Conflict(
                "Not enough stock for this item", field=line.field, variant_id=str(line.variant_id)
            )
        reservation = InventoryReservation(
            store_id=store_id,
            variant_id=line.variant_id,
            location_id=reserved_at,
            quantity=line.quantity,
            kind=kind,
            order_id=order_id,
            cart_id=cart_id,
            expires_at=expires_at,
        )
        session.add(reservation)
        made.append(reservation)
    await session.flush()
    return made


async def _reserve_at(
    session: AsyncSession,
    store_id: uuid.UUID,
    line: StockLine,
    location_id: uuid.UUID,
    *,
    backorder: bool,
) -> bool:
    params = {
        "q": line.quantity,
        "store": store_id,
        "v": line.variant_id,
        "loc": location_id,
        "backorder": backorder,
        "max": MAX_UNITS,
    }
    return (await session.execute(RESERVE_AT_LOCATION, params)).first() is not None


async def _ensure_level(
    session: AsyncSession, store_id: uuid.UUID, variant_id: uuid.UUID, location_id: uuid.UUID
) -> None:
    await session.execute(
        text(
            "INSERT INTO inventory (store_id, id, variant_id, location_id, on_hand, reserved, "
            "incoming) VALUES (:s, gen_random_uuid(), :v, :l, 0, 0, 0) "
            "ON CONFLICT (store_id, variant_id, location_id) DO NOTHING"
        ),
        {"s": store_id, "v": variant_id, "l": location_id},
    )


async def release_order(session: AsyncSession, order_id: uuid.UUID) -> int:
    """Give back every open allocation of an order (cancellation); returns units released."""
    open_rows = (
        await session.execute(
            select(InventoryReservation)
            .where(
                InventoryReservation.order_id == order_id,
                InventoryReservation.released_at.is_(None),
            )
            .with_for_update()
        )
    ).scalars()
    released = 0
    now = datetime.now(UTC)
    for reservation in open_rows:
        await session.execute(
            update(InventoryLevel)
            .where(
                InventoryLevel.variant_id == reservation.variant_id,
                InventoryLevel.location_id == reservation.location_id,
            )
            .values(reserved=InventoryLevel.reserved - reservation.quantity)
        )
        reservation.released_at = now
        released += reservation.quantity
    await session.flush()
    return released


async def ship(
    session: AsyncSession,
    store_id: uuid.UUID,
    order_id: uuid.UUID,
    variant_id: uuid.UUID,
    quantity: int,
    *,
    actor: str,
) -> None:
    """Fulfilment: turn ``quantity`` reserved units of an order into shipped ones."""
    remaining = quantity
    rows = (
        await session.execute(
            select(InventoryReservation)
            .where(
                InventoryReservation.order_id == order_id,
                InventoryReservation.variant_id == variant_id,
                InventoryReservation.released_at.is_(None),
            )
            .order_by(InventoryReservation.created_at)
            .with_for_update()
        )
    ).scalars()
    now = datetime.now(UTC)
    for reservation in rows:
        if remaining == 0:
            break
        take = min(remaining, reservation.quantity)
        level = (
            await session.execute(
                update(InventoryLevel)
                .where(
                    InventoryLevel.variant_id == variant_id,
                    InventoryLevel.location_id == reservation.location_id,
                )
                .values(
                    reserved=InventoryLevel.reserved - take,
                    on_hand=InventoryLevel.on_hand - take,
                )
                .returning(InventoryLevel.on_hand)
            )
        ).scalar_one()
        session.add(
            InventoryAdjustment(
                store_id=store_id,
                variant_id=variant_id,
                location_id=reservation.location_id,
                delta=-take,
                on_hand_after=level,
                reason="sold",
                actor=actor,
                order_id=order_id,
            )
        )
        if take == reservation.quantity:
            reservation.released_at = now
        else:
            reservation.quantity -= take
        remaining -= take
    await session.flush()


async def adjust(
    session: AsyncSession,
    store_id: uuid.UUID,
    variant_id: uuid.UUID,
    location_id: uuid.UUID,
    delta: int,
    *,
    reason: str,
    note: str = "",
    actor: str = "",
    order_id: uuid.UUID | None = None,
) -> InventoryLevel:
    """Add or remove stock at a location; refuses to go below zero or below what is reserved."""
    if await session.get(InventoryLocation, (store_id, location_id)) is None:
        raise NotFound("Inventory location not found", field="location_id")
    if await session.get(ProductVariant, (store_id, variant_id)) is None:
        raise NotFound("Variant not found", field="variant_id")
    await _ensure_level(session, store_id, variant_id, location_id)
    # In BIGINT, so a sum past INTEGER is a refused row here, not an overflow error.
    after = cast(InventoryLevel.on_hand, BigInteger) + delta
    row = (
        await session.execute(
            update(InventoryLevel)
            .where(
                InventoryLevel.variant_id == variant_id,
                InventoryLevel.location_id == location_id,
                after >= 0,
                after >= InventoryLevel.reserved,
                after <= MAX_UNITS,
            )
            .values(on_hand=InventoryLevel.on_hand + delta)
            .returning(InventoryLevel.on_hand)
        )
    ).scalar_one_or_none()
    if row is None:
        raise Conflict(
            f"Stock cannot go below zero or below reserved units, nor above {MAX_UNITS}",
            field="delta",
        )
    session.add(
        InventoryAdjustment(
            store_id=store_id,
            variant_id=variant_id,
            location_id=location_id,
            delta=delta,
            on_hand_after=row,
            reason=reason,
            note=note,
            actor=actor,
            order_id=order_id,
        )
    )
    await session.flush()
    level = (
        await session.execute(
            select(InventoryLevel).where(
                InventoryLevel.variant_id == variant_id, InventoryLevel.location_id == location_id
            )
        )
    ).scalar_one()
    return level


async def set_on_hand(
    session: AsyncSession,
    store_id: uuid.UUID,
    variant_id: uuid.UUID,
    location_id: uuid.UUID,
    on_hand: int,
    *,
    actor: str,
) -> InventoryLevel:
    """Set absolute stock (product writes); recorded as a correction of the difference."""
    await _ensure_level(session, store_id, variant_id, location_id)
    current = await session.scalar(
        select(InventoryLevel.on_hand).where(
            InventoryLevel.variant_id == variant_id, InventoryLevel.location_id == location_id
        )
    )
    return await adjust(
        session,
        store_id,
        variant_id,
        location_id,
        on_hand - int(current or 0),
        reason="correction" if current else "initial",
        actor=actor,
    )
