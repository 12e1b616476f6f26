"""The inventory admin API: locations, stock levels, manual adjustments and their history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from storefleet.api.store_access import CanManageInventory
from storefleet.api.unit_of_work import TenantReader, TenantSession
from storefleet.commerce.common import PageParams, page_params
from storefleet.commerce.inventory import levels, locations, stock
from storefleet.commerce.inventory.schemas import (
    AdjustmentIn,
    AdjustmentPage,
    LevelOut,
    LevelPage,
    LocationCreate,
    LocationOut,
    LocationPage,
    LocationPatch,
)

router = APIRouter(prefix="/api/stores/{store_id}/inventory", tags=["inventory"])
Paging = Annotated[PageParams, Depends(page_params)]


@router.get("/locations", response_model=LocationPage)
async def list_locations(ctx: CanManageInventory, s: TenantReader, paging: Paging) -> LocationPage:
    rows = await locations.list_locations(s, limit=paging.limit, offset=paging.offset)
    return LocationPage.of(rows)


@router.post("/locations", status_code=status.HTTP_201_CREATED, response_model=LocationOut)
async def create_location(
    body: LocationCreate, ctx: CanManageInventory, s: TenantSession
) -> LocationOut:
    location = await locations.create_location(s, ctx.store_id, body.model_dump())
    return LocationOut.model_validate(location)


@router.get("/locations/{location_id}", response_model=LocationOut)
async def get_location(
    location_id: uuid.UUID, ctx: CanManageInventory, s: TenantReader
) -> LocationOut:
    return LocationOut.model_validate(await locations.get_location(s, location_id))


@router.patch("/locations/{location_id}", response_model=LocationOut)
async def update_location(
    location_id: uuid.UUID, body: LocationPatch, ctx: CanManageInventory, s: TenantSession
) -> LocationOut:
    location = await locations.update_location(s, location_id, body.model_dump(exclude_unset=True))
    return LocationOut.model_validate(location)


@router.get("", response_model=LevelPage)
async def list_levels(
    ctx: CanManageInventory,
    s: TenantReader,
    paging: Paging,
    variant_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
) -> LevelPage:
    rows = await levels.list_levels(
        s, variant_id=variant_id, location_id=location_id, limit=paging.limit, offset=paging.offset
    )
    return LevelPage.of(rows)


@router.post("/adjustments", status_code=status.HTTP_201_CREATED, response_model=LevelOut)
async def adjust(body: AdjustmentIn, ctx: CanManageInventory, s: TenantSession) -> LevelOut:
    """Add or remove stock; below zero or below reserved units is a 409 on ``delta``."""
    level = await stock.adjust(
        s,
        ctx.store_id,
        body.variant_id,
        body.location_id,
        body.delta,
        reason=body.reason,
        note=body.note,
        actor=ctx.actor_label,
    )
    rows = await levels.list_levels(
        s, variant_id=level.variant_id, location_id=level.location_id, limit=1, offset=0
    )
    return LevelOut(**rows.items[0])


@router.get("/adjustments", response_model=AdjustmentPage)
async def list_adjustments(
    ctx: CanManageInventory,
    s: TenantReader,
    paging: Paging,
    variant_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
) -> AdjustmentPage:
    rows = await levels.list_adjustments(
        s, variant_id=variant_id, location_id=location_id, limit=paging.limit, offset=paging.offset
    )
    return AdjustmentPage.of(rows)
