"""Inventory locations: the warehouses and shops a store keeps stock in.

Codes are unique per store, and exactly one active location is the default (where
backorders and restocks land); the default changes by making another location the default,
never by clearing it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.inventory.models import InventoryLocation
from storefleet.db.ids import uuid7
from storefleet.db.queries import Rows, get_or_404, paged
from storefleet.errors import Conflict
from storefleet.schemas import MUST_NOT, apply_changes, refuse_nulls

LOCATION_NOT_FOUND = "Inventory location not found"


async def list_locations(
    session: AsyncSession, *, limit: int, offset: int
) -> Rows[InventoryLocation]:
    stmt = select(InventoryLocation).order_by(
        InventoryLocation.is_default.desc(), InventoryLocation.code
    )
    return await paged(session, stmt, limit=limit, offset=offset)


async def get_location(
    session: AsyncSession, location_id: uuid.UUID, *, for_update: bool = False
) -> InventoryLocation:
    return await get_or_404(
        session, InventoryLocation, location_id, missing=LOCATION_NOT_FOUND, lock=for_update
    )


async def _check_code(session: AsyncSession, code: str, location_id: uuid.UUID | None) -> None:
    stmt = select(InventoryLocation.id).where(InventoryLocation.code == code)
    if location_id is not None:
        stmt = stmt.where(InventoryLocation.id != location_id)
    if await session.scalar(stmt.limit(1)) is not None:
        raise Conflict(f"location code {code!r} is already in use", field="code")


async def _clear_default(session: AsyncSession, keep: uuid.UUID) -> None:
    """The one-default index is checked row by row: clear the old default first."""
    await session.execute(
        update(InventoryLocation)
        .where(InventoryLocation.is_default, InventoryLocation.id != keep)
        .values(is_default=False, updated_at=func.now())
        .execution_options(synchronize_session=False)
    )


async def create_location(
    session: AsyncSession, store_id: uuid.UUID, fields: dict[str, Any]
) -> InventoryLocation:
    await _check_code(session, fields["code"], None)
    location = InventoryLocation(store_id=store_id, id=uuid7(), **fields)
    if location.is_default:
        if not location.is_active:
            raise Conflict("the default location must be active", field="is_active")
        await _clear_default(session, location.id)
    session.add(location)
    await session.flush()
    return location


async def update_location(
    session: AsyncSession, location_id: uuid.UUID, fields: dict[str, Any]
) -> InventoryLocation:
    """Rename, recode, (de)activate or make default; the default stays active and unique."""
    with session.no_autoflush:
        location = await get_location(session, location_id, for_update=True)
        refuse_nulls(fields, ("name", "code", "is_active", "is_default", "address"), MUST_NOT)
        if "code" in fields and fields["code"] != location.code:
            await _check_code(session, fields["code"], location.id)
        was_default = location.is_default
        is_default = fields.get("is_default", was_default)
        is_active = fields.get("is_active", location.is_active)
        if was_default and not is_default:
            raise Conflict("make another location the default instead", field="is_default")
        if is_default and not is_active:
            raise Conflict(
                "the default location must be active",
                field="is_active" if "is_active" in fields else "is_default",
            )
        if is_default and not was_default:
            await _clear_default(session, location.id)
    apply_changes(location, fields)
    location.updated_at = datetime.now(UTC)
    await session.flush()
    return location
