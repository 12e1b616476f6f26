"""The pricing admin API: price rules (price lists and sales) and the store's currencies."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from storefleet.api.store_access import CanManagePricing, CanViewPricing
from storefleet.api.unit_of_work import TenantReader, TenantSession
from storefleet.commerce.common import CurrencyCode, PageParams, page_params
from storefleet.commerce.pricing import service
from storefleet.commerce.pricing.schemas import (
    CurrencyOut,
    CurrencyPut,
    PriceRuleCreate,
    PriceRuleOut,
    PriceRulePage,
    PriceRulePatch,
    RuleKind,
)

router = APIRouter(prefix="/api/stores/{store_id}", tags=["pricing"])
Paging = Annotated[PageParams, Depends(page_params)]


@router.get("/price-rules", response_model=PriceRulePage)
async def list_rules(
    ctx: CanViewPricing, s: TenantReader, paging: Paging, kind: RuleKind | None = None
) -> PriceRulePage:
    rows = await service.list_rules(s, limit=paging.limit, offset=paging.offset, kind=kind)
    return PriceRulePage.of(rows)


@router.post("/price-rules", status_code=status.HTTP_201_CREATED, response_model=PriceRuleOut)
async def create_rule(
    body: PriceRuleCreate, ctx: CanManagePricing, s: TenantSession
) -> PriceRuleOut:
    rule = await service.create_rule(s, ctx.store_id, body.model_dump())
    return PriceRuleOut.model_validate(rule)


@router.get("/price-rules/{rule_id}", response_model=PriceRuleOut)
async def get_rule(rule_id: uuid.UUID, ctx: CanViewPricing, s: TenantReader) -> PriceRuleOut:
    return PriceRuleOut.model_validate(await service.get_rule(s, rule_id))


@router.patch("/price-rules/{rule_id}", response_model=PriceRuleOut)
async def update_rule(
    rule_id: uuid.UUID, body: PriceRulePatch, ctx: CanManagePricing, s: TenantSession
) -> PriceRuleOut:
    rule = await service.update_rule(s, rule_id, body.model_dump(exclude_unset=True))
    return PriceRuleOut.model_validate(rule)


@router.delete("/price-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_rule(rule_id: uuid.UUID, ctx: CanManagePricing, s: TenantSession) -> Response:
    await service.delete_rule(s, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/currencies", response_model=list[CurrencyOut])
async def list_currencies(ctx: CanViewPricing, s: TenantReader) -> list[CurrencyOut]:
    return [CurrencyOut.model_validate(c) for c in await service.currencies(s)]


@router.put("/currencies/{code}", response_model=CurrencyOut)
async def put_currency(
    code: Annotated[CurrencyCode, Path()],
    body: CurrencyPut,
    ctx: CanManagePricing,
    s: TenantSession,
) -> CurrencyOut:
    row = await service.set_currency(s, ctx.store_id, code, body.model_dump())
    return CurrencyOut.model_validate(row)
