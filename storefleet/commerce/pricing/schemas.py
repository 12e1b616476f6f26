"""Request and response bodies of the pricing API: price rules and currencies."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from storefleet.commerce.common import CountryCode, Page, Strict

RuleKind = Literal["override", "sale"]
BasisPoints = Annotated[int, Field(ge=0, le=10_000)]
Priority = Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
Group = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Rate = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=8)]


class PriceRuleCreate(Strict):
    """``sale`` takes ``percent_off_bp`` off every price; ``override`` prices are set per
    variant in the product write (``prices[].price_rule_id``)."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    kind: RuleKind = "override"
    percent_off_bp: BasisPoints | None = None
    customer_group: Group | None = None
    country: CountryCode | None = None
    priority: Priority = 0
    is_active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class PriceRulePatch(Strict):
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
        | None
    ) = None
    kind: RuleKind | None = None
    percent_off_bp: BasisPoints | None = None
    customer_group: Group | None = None
    country: CountryCode | None = None
    priority: Priority | None = None
    is_active: bool | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


class PriceRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kind: str
    percent_off_bp: int | None
    customer_group: str | None
    country: str | None
    priority: int
    is_active: bool
    starts_at: datetime | None
    ends_at: datetime | None
    created_at: datetime
    updated_at: datetime


class PriceRulePage(Page[PriceRuleOut]):
    pass


class CurrencyPut(Strict):
    is_enabled: bool | None = None
    is_default: bool | None = None
    exchange_rate: Rate | None = None


class CurrencyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    is_enabled: bool
    is_default: bool
    exchange_rate: Decimal
