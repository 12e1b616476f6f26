"""The tax API of a store (owner and staff): classes, rules, prices-include-tax."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from storefleet.api.store_access import CanManageTaxShipping, CanViewTaxShipping
from storefleet.api.unit_of_work import TenantReader, TenantSession
from storefleet.commerce.tax import service
from storefleet.commerce.tax.schemas import (
    TaxClassCreate,
    TaxClassList,
    TaxClassOut,
    TaxClassUpdate,
    TaxRuleCreate,
    TaxRuleList,
    TaxRuleOut,
    TaxRuleUpdate,
    TaxSettings,
)

router = APIRouter(prefix="/api/stores/{store_id}", tags=["tax"])


@router.get("/tax-settings", response_model=TaxSettings)
async def get_settings(ctx: CanViewTaxShipping, s: TenantReader) -> TaxSettings:
    return TaxSettings(prices_include_tax=await service.prices_include_tax(s))


@router.put("/tax-settings", response_model=TaxSettings)
async def put_settings(
    body: TaxSettings, ctx: CanManageTaxShipping, s: TenantSession
) -> TaxSettings:
    value = await service.set_prices_include_tax(s, body.prices_include_tax)
    return TaxSettings(prices_include_tax=value)


@router.get("/tax-classes", response_model=TaxClassList)
async def list_classes(ctx: CanViewTaxShipping, s: TenantReader) -> TaxClassList:
    rows = await service.list_classes(s)
    return TaxClassList(items=[TaxClassOut.model_validate(c) for c in rows])


@router.post("/tax-classes", status_code=status.HTTP_201_CREATED, response_model=TaxClassOut)
async def create_class(
    body: TaxClassCreate, ctx: CanManageTaxShipping, s: TenantSession
) -> TaxClassOut:
    created = await service.create_class(s, ctx.store_id, body.model_dump())
    return TaxClassOut.model_validate(created)


@router.get("/tax-classes/{class_id}", response_model=TaxClassOut)
async def get_class(class_id: uuid.UUID, ctx: CanViewTaxShipping, s: TenantReader) -> TaxClassOut:
    return TaxClassOut.model_validate(await service.get_class(s, class_id))


@router.patch("/tax-classes/{class_id}", response_model=TaxClassOut)
async def update_class(
    class_id: uuid.UUID, body: TaxClassUpdate, ctx: CanManageTaxShipping, s: TenantSession
) -> TaxClassOut:
    updated = await service.update_class(s, class_id, body.model_dump(exclude_unset=True))
    return TaxClassOut.model_validate(updated)


@router.delete("/tax-classes/{class_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_class(
    class_id: uuid.UUID, ctx: CanManageTaxShipping, s: TenantSession
) -> Response:
    await service.delete_class(s, class_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/tax-classes/{class_id}/rules", response_model=TaxRuleList)
async def list_rules(class_id: uuid.UUID, ctx: CanViewTaxShipping, s: TenantReader) -> TaxRuleList:
    rows = await service.list_rules(s, class_id)
    return TaxRuleList(items=[TaxRuleOut.model_validate(r) for r in rows])


@router.post(
    "/tax-classes/{class_id}/rules", status_code=status.HTTP_201_CREATED, response_model=TaxRuleOut
)
async def create_rule(
    class_id: uuid.UUID, body: TaxRuleCreate, ctx: CanManageTaxShipping, s: TenantSession
) -> TaxRuleOut:
    rule = await service.create_rule(s, ctx.store_id, class_id, body.model_dump())
    return TaxRuleOut.model_validate(rule)


@router.patch("/tax-classes/{class_id}/rules/{rule_id}", response_model=TaxRuleOut)
async def update_rule(
    class_id: uuid.UUID,
    rule_id: uuid.UUID,
    body: TaxRuleUpdate,
    ctx: CanManageTaxShipping,
    s: TenantSession,
) -> TaxRuleOut:
    rule = await service.update_rule(s, class_id, rule_id, body.model_dump(exclude_unset=True))
    return TaxRuleOut.model_validate(rule)


@router.delete("/tax-classes/{class_id}/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(
    class_id: uuid.UUID, rule_id: uuid.UUID, ctx: CanManageTaxShipping, s: TenantSession
) -> Response:
    await service.delete_rule(s, class_id, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
