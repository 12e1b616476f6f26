"""Request and response bodies of the discounts admin API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from storefleet.commerce.common import Amount, CurrencyCode, Page, Strict
from storefleet.schemas import Count

DiscountKind = Literal["percentage", "fixed", "free_shipping", "buy_x_get_y"]
DiscountTarget = Literal["order", "items", "shipping"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
CodeText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"
    ),
]
Units = Annotated[int, Field(ge=1, le=1000)]


class DiscountConditions(Strict):
    min_subtotal: dict[CurrencyCode, Amount] | None = None
    product_ids: Annotated[list[uuid.UUID], Field(max_length=500)] | None = None
    variant_ids: Annotated[list[uuid.UUID], Field(max_length=500)] | None = None


class DiscountFields(Strict):
    """Everything a discount has; ``DiscountCreate`` requires some, updates none."""

    name: Name | None = None
    kind: DiscountKind | None = None
    target: DiscountTarget | None = None
    value: Amount | None = None
    currency: CurrencyCode | None = None
    conditions: DiscountConditions | None = None
    is_automatic: bool | None = None
    is_active: bool | None = None
    combinable: bool | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    usage_limit: Count | None = None
    usage_limit_per_customer: Count | None = None
    buy_quantity: Units | None = None
    get_quantity: Units | None = None


class DiscountCreate(DiscountFields):
    name: Name
    kind: DiscountKind

    @model_validator(mode="after")
    def _defaults(self) -> DiscountCreate:
        if self.target is None:
            self.target = "shipping" if self.kind == "free_shipping" else "order"
        return self


class DiscountUpdate(DiscountFields):
    pass


class DiscountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: str
    target: str
    value: int
    currency: str | None
    conditions: dict[str, Any]
    is_automatic: bool
    is_active: bool
    combinable: bool
    starts_at: datetime | None
    ends_at: datetime | None
    usage_limit: int | None
    usage_limit_per_customer: int | None
    usage_count: int
    buy_quantity: int | None
    get_quantity: int | None
    created_at: datetime
    updated_at: datetime


class DiscountList(Page[DiscountOut]):
    pass


class CodeCreate(Strict):
    code: CodeText
    usage_limit: Count | None = None


class CodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    discount_id: uuid.UUID
    code: str
    usage_limit: int | None
    usage_count: int
    is_active: bool
    created_at: datetime


class CodeList(BaseModel):
    items: list[CodeOut]


class RedemptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    discount_id: uuid.UUID
    code_id: uuid.UUID | None
    order_id: uuid.UUID
    customer_id: uuid.UUID | None
    customer_email: str
    amount: int
    created_at: datetime


class RedemptionList(Page[RedemptionOut]):
    pass
