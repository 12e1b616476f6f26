"""The inventory admin API: locations, stock levels, manual adjustments and their history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from storefleet.api.deps import RuntimeDep
from storefleet.api.store_access import CanManageInventory
from storefleet.commerce.common import PageParams, page_params
from storefleet.commerce.inventory import service
from storefleet.commerce.inventory.schemas import (
    AdjustmentIn,
    AdjustmentOut,
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
async def list_locations(
    ctx: CanManageInventory, runtime: RuntimeDep, paging: Paging
) -> LocationPage:
    async with runtime.tenancy.session(ctx.placement, write=False) as s:
        rows, total = await service.list_locations(s, limit=paging.limit, offset=paging.offset)
        items = [LocationOut.model_validate(r) for r in rows]
    return LocationPage(items=items, total=total, limit=paging.limit, offset=paging.offset)


@router.post("/locations", status_code=status.HTTP_201_CREATED, response_model=LocationOut)
async def create_location(
    body: LocationCreate, ctx: CanManageInventory, runtime: RuntimeDep
) -> LocationOut:
    async with runtime.tenancy.session(ctx.placement, write=True) as s:
        location = await service.create_location(s, ctx.store_id, body.model_dump())
        return LocationOut.model_validate(location)


@router.get("/locations/{location_id}", response_model=LocationOut)
async def get_location(
    location_id: uuid.UUID, ctx: CanManageInventory, runtime: RuntimeDep
) -> LocationOut:
    async with runtime.tenancy.session(ctx.placement, write=False) as s:
        return LocationOut.model_validate(await service.get_location(s, location_id))


@router.patch("/locations/{location_id}", response_model=LocationOut)
async def update_location(
    location_id: uuid.UUID, body: LocationPatch, ctx: CanManageInventory, runtime: RuntimeDep
) -> LocationOut:
    async with runtime.tenancy.session(ctx.placement, write=True) as s:
        location = await service.update_location(
            s, location_id, body.model_dump(exclude_unset=True)
        )
        return LocationOut.model_validate(location)


@router.get("", response_model=LevelPage)
async def list_levels(
    ctx: CanManageInventory,
    runtime: RuntimeDep,
    paging: Paging,
    variant_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
) -> LevelPage:
    async with runtime.tenancy.session(ctx.placement, write=False) as s:
        rows, total = await service.list_levels(
            s,
            variant_id=variant_id,
            location_id=location_id,
            limit=paging.limit,
            offset=paging.offset,
        )
    return LevelPage(
        items=[LevelOut(**r) for r in rows], total=total, limit=paging.limit, offset=paging.offset
    )


@router.post("/adjustments", status_code=status.HTTP_201_CREATED, response_model=LevelOut)
async def adjust(body: AdjustmentIn, ctx: CanManageInventory, runtime: RuntimeDep) -> LevelOut:
    """Add or remove stock; below zero or below reserved units is a 409 on ``delta``."""
    async with runtime.tenancy.session(ctx.placement, write=True) as s:
        level = await service.adjust(
            s,
            ctx.store_id,
            body.variant_id,
            body.location_id,
            body.delta,
            reason=body.reason,
            note=body.note,
            actor=ctx.actor_label,
        )
        rows, _ = await service.list_levels(
            s, variant_id=level.variant_id, location_id=level.location_id, limit=1, offset=0
        )
    return LevelOut(**rows[0])


@router.get("/adjustments", response_model=AdjustmentPage)
async def list_adjustments(
    ctx: CanManageInventory,
    runtime: RuntimeDep,
    paging: Paging,
    variant_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
) -> AdjustmentPage:
    async with runtime.tenancy.session(ctx.placement, write=False) as s:
        rows, total = await service.list_adjustments(
            s,
            variant_id=variant_id,
            location_id=location_id,
            limit=paging.limit,
            offset=paging.offset,
        )
        items = [AdjustmentOut.model_validate(r) for r in rows]
    return AdjustmentPage(items=items, total=total, limit=paging.limit, offset=paging.offset)
