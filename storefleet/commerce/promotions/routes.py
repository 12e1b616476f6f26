"""The discounts admin API (owner or staff): discounts, their codes and redemptions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from storefleet.api.store_access import CanManageDiscounts, CanViewDiscounts
from storefleet.api.unit_of_work import TenantReader, TenantSession
from storefleet.commerce.common import PageParams, page_params
from storefleet.commerce.promotions import admin
from storefleet.commerce.promotions.schemas import (
    CodeCreate,
    CodeList,
    CodeOut,
    DiscountCreate,
    DiscountList,
    DiscountOut,
    DiscountUpdate,
    RedemptionList,
)

router = APIRouter(prefix="/api/stores/{store_id}/discounts", tags=["discounts"])
Paging = Annotated[PageParams, Depends(page_params)]


def _fields(body: DiscountCreate | DiscountUpdate, *, partial: bool) -> dict[str, object]:
    values = body.model_dump(exclude_unset=partial, exclude={"conditions"})
    if "conditions" in body.model_fields_set or not partial:
        conditions = body.conditions
        values["conditions"] = (
            conditions.model_dump(mode="json", exclude_none=True) if conditions else {}
        )
    return values


@router.get("", response_model=DiscountList)
async def list_discounts(
    ctx: CanViewDiscounts,
    s: TenantReader,
    page: Paging,
    is_active: bool | None = None,
    is_automatic: bool | None = None,
) -> DiscountList:
    rows = await admin.list_discounts(
        s, limit=page.limit, offset=page.offset, is_active=is_active, is_automatic=is_automatic
    )
    return DiscountList.of(rows)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DiscountOut)
async def create_discount(
    body: DiscountCreate, ctx: CanManageDiscounts, s: TenantSession
) -> DiscountOut:
    row = await admin.create_discount(s, ctx.store_id, _fields(body, partial=False))
    return DiscountOut.model_validate(row)


@router.get("/{discount_id}", response_model=DiscountOut)
async def get_discount(
    discount_id: uuid.UUID, ctx: CanViewDiscounts, s: TenantReader
) -> DiscountOut:
    return DiscountOut.model_validate(await admin.get_discount(s, discount_id))


@router.patch("/{discount_id}", response_model=DiscountOut)
async def update_discount(
    discount_id: uuid.UUID, body: DiscountUpdate, ctx: CanManageDiscounts, s: TenantSession
) -> DiscountOut:
    row = await admin.update_discount(s, discount_id, _fields(body, partial=True))
    return DiscountOut.model_validate(row)


@router.delete("/{discount_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_discount(
    discount_id: uuid.UUID, ctx: CanManageDiscounts, s: TenantSession
) -> Response:
    await admin.delete_discount(s, discount_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{discount_id}/codes", status_code=status.HTTP_201_CREATED, response_model=CodeOut)
async def add_code(
    discount_id: uuid.UUID, body: CodeCreate, ctx: CanManageDiscounts, s: TenantSession
) -> CodeOut:
    row = await admin.add_code(
        s, ctx.store_id, discount_id, code=body.code, usage_limit=body.usage_limit
    )
    return CodeOut.model_validate(row)


@router.get("/{discount_id}/codes", response_model=CodeList)
async def list_codes(discount_id: uuid.UUID, ctx: CanViewDiscounts, s: TenantReader) -> CodeList:
    rows = await admin.list_codes(s, discount_id)
    return CodeList(items=[CodeOut.model_validate(r) for r in rows])


@router.delete("/{discount_id}/codes/{code_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_code(
    discount_id: uuid.UUID, code_id: uuid.UUID, ctx: CanManageDiscounts, s: TenantSession
) -> Response:
    await admin.delete_code(s, discount_id, code_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{discount_id}/redemptions", response_model=RedemptionList)
async def list_redemptions(
    discount_id: uuid.UUID, ctx: CanViewDiscounts, s: TenantReader, page: Paging
) -> RedemptionList:
    rows = await admin.list_redemptions(s, discount_id, limit=page.limit, offset=page.offset)
    return RedemptionList.of(rows)
