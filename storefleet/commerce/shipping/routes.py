"""The shipping API of a store (owner and staff): zones, their methods, methods' rates."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from storefleet.api.store_access import CanManageTaxShipping, CanViewTaxShipping
from storefleet.api.unit_of_work import TenantReader, TenantSession
from storefleet.commerce.shipping import service
from storefleet.commerce.shipping.schemas import (
    MethodCreate,
    MethodList,
    MethodOut,
    MethodUpdate,
    RateCreate,
    RateList,
    RateOut,
    RateUpdate,
    ZoneCreate,
    ZoneList,
    ZoneOut,
    ZoneUpdate,
)

router = APIRouter(prefix="/api/stores/{store_id}", tags=["shipping"])
NO_CONTENT = status.HTTP_204_NO_CONTENT
CREATED = status.HTTP_201_CREATED


@router.get("/shipping-zones", response_model=ZoneList)
async def list_zones(ctx: CanViewTaxShipping, s: TenantReader) -> ZoneList:
    return ZoneList(items=[ZoneOut.model_validate(z) for z in await service.list_zones(s)])


@router.post("/shipping-zones", status_code=CREATED, response_model=ZoneOut)
async def create_zone(body: ZoneCreate, ctx: CanManageTaxShipping, s: TenantSession) -> ZoneOut:
    return ZoneOut.model_validate(await service.create_zone(s, ctx.store_id, body.model_dump()))


@router.get("/shipping-zones/{zone_id}", response_model=ZoneOut)
async def get_zone(zone_id: uuid.UUID, ctx: CanViewTaxShipping, s: TenantReader) -> ZoneOut:
    return ZoneOut.model_validate(await service.get_zone(s, zone_id))


@router.patch("/shipping-zones/{zone_id}", response_model=ZoneOut)
async def update_zone(
    zone_id: uuid.UUID, body: ZoneUpdate, ctx: CanManageTaxShipping, s: TenantSession
) -> ZoneOut:
    zone = await service.update_zone(s, zone_id, body.model_dump(exclude_unset=True))
    return ZoneOut.model_validate(zone)


@router.delete("/shipping-zones/{zone_id}", status_code=NO_CONTENT)
async def delete_zone(zone_id: uuid.UUID, ctx: CanManageTaxShipping, s: TenantSession) -> Response:
    await service.delete_zone(s, zone_id)
    return Response(status_code=NO_CONTENT)


@router.get("/shipping-zones/{zone_id}/methods", response_model=MethodList)
async def list_methods(zone_id: uuid.UUID, ctx: CanViewTaxShipping, s: TenantReader) -> MethodList:
    rows = await service.list_methods(s, zone_id)
    return MethodList(items=[MethodOut.model_validate(m) for m in rows])


@router.post("/shipping-zones/{zone_id}/methods", status_code=CREATED, response_model=MethodOut)
async def create_method(
    zone_id: uuid.UUID, body: MethodCreate, ctx: CanManageTaxShipping, s: TenantSession
) -> MethodOut:
    method = await service.create_method(s, ctx.store_id, zone_id, body.model_dump())
    return MethodOut.model_validate(method)


@router.get("/shipping-methods/{method_id}", response_model=MethodOut)
async def get_method(method_id: uuid.UUID, ctx: CanViewTaxShipping, s: TenantReader) -> MethodOut:
    return MethodOut.model_validate(await service.get_method(s, method_id))


@router.patch("/shipping-methods/{method_id}", response_model=MethodOut)
async def update_method(
    method_id: uuid.UUID, body: MethodUpdate, ctx: CanManageTaxShipping, s: TenantSession
) -> MethodOut:
    method = await service.update_method(s, method_id, body.model_dump(exclude_unset=True))
    return MethodOut.model_validate(method)


@router.delete("/shipping-methods/{method_id}", status_code=NO_CONTENT)
async def delete_method(
    method_id: uuid.UUID, ctx: CanManageTaxShipping, s: TenantSession
) -> Response:
    await service.delete_method(s, method_id)
    return Response(status_code=NO_CONTENT)


@router.get("/shipping-methods/{method_id}/rates", response_model=RateList)
async def list_rates(method_id: uuid.UUID, ctx: CanViewTaxShipping, s: TenantReader) -> RateList:
    rows = await service.list_rates(s, method_id)
    return RateList(items=[RateOut.model_validate(r) for r in rows])


@router.post("/shipping-methods/{method_id}/rates", status_code=CREATED, response_model=RateOut)
async def create_rate(
    method_id: uuid.UUID, body: RateCreate, ctx: CanManageTaxShipping, s: TenantSession
) -> RateOut:
    rate = await service.create_rate(s, ctx.store_id, method_id, body.model_dump())
    return RateOut.model_validate(rate)


@router.patch("/shipping-methods/{method_id}/rates/{rate_id}", response_model=RateOut)
async def update_rate(
    method_id: uuid.UUID,
    rate_id: uuid.UUID,
    body: RateUpdate,
    ctx: CanManageTaxShipping,
    s: TenantSession,
) -> RateOut:
    rate = await service.update_rate(s, method_id, rate_id, body.model_dump(exclude_unset=True))
    return RateOut.model_validate(rate)


@router.delete("/shipping-methods/{method_id}/rates/{rate_id}", status_code=NO_CONTENT)
async def delete_rate(
    method_id: uuid.UUID, rate_id: uuid.UUID, ctx: CanManageTaxShipping, s: TenantSession
) -> Response:
    await service.delete_rate(s, method_id, rate_id)
    return Response(status_code=NO_CONTENT)
