"""Stock levels and their history as the inventory admin reads them.

A level is one variant at one location; its ``available`` is what can still be sold there
(never below zero). The history is every adjustment, manual or from fulfilment, newest first.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.inventory.models import (
    InventoryAdjustment,
    InventoryLevel,
    InventoryLocation,
)
from storefleet.db.queries import Rows, paged


def _level_filters(
    variant_id: uuid.UUID | None, location_id: uuid.UUID | None, model: Any
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if variant_id is not None:
        conditions.append(model.variant_id == variant_id)
    if location_id is not None:
        conditions.append(model.location_id == location_id)
    return conditions


def _level(row: tuple[InventoryLevel, str]) -> dict[str, Any]:
    level, code = row
    return {
        "variant_id": level.variant_id,
        "location_id": level.location_id,
        "location_code": code,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "incoming": level.incoming,
        "available": max(0, level.on_hand - level.reserved),
        "updated_at": level.updated_at,
    }


async def list_levels(
    session: AsyncSession,
    *,
    variant_id: uuid.UUID | None,
    location_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> Rows[dict[str, Any]]:
    stmt = (
        select(InventoryLevel, InventoryLocation.code)
        .join(
            InventoryLocation,
            (InventoryLocation.store_id == InventoryLevel.store_id)
            & (InventoryLocation.id == InventoryLevel.location_id),
        )
        .where(*_level_filters(variant_id, location_id, InventoryLevel))
        .order_by(InventoryLevel.variant_id, InventoryLocation.code)
    )
    # paged is typed for one-entity statements; a row here is the (level, code) pair
    rows = await paged(session, cast("Select[Any]", stmt), limit=limit, offset=offset)
    return rows.map(_level)


async def list_adjustments(
    session: AsyncSession,
    *,
    variant_id: uuid.UUID | None,
    location_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> Rows[InventoryAdjustment]:
    """Stock history, newest first."""
    stmt = (
        select(InventoryAdjustment)
        .where(*_level_filters(variant_id, location_id, InventoryAdjustment))
        .order_by(InventoryAdjustment.created_at.desc(), InventoryAdjustment.id.desc())
    )
    return await paged(session, stmt, limit=limit, offset=offset)
