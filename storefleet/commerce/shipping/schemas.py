"""Request and response bodies for shipping zones, methods and rates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from storefleet.commerce.common import Amount, CountryCode, CurrencyCode, ShortText, Strict
from storefleet.schemas import Grams, Position

RateKind = Literal["flat", "weight", "order_value", "free_over"]
Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"),
]
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PostalPattern = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_upper=True,
        min_length=1,
        max_length=20,
        pattern=r"^[A-Za-z0-9 *?-]+$",
    ),
]
Description = Annotated[str, StringConstraints(max_length=2000)]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Countries = Annotated[list[CountryCode], Field(max_length=300), AfterValidator(_unique)]
Regions = Annotated[list[Region], Field(max_length=500), AfterValidator(_unique)]
PostalPatterns = Annotated[list[PostalPattern], Field(max_length=500), AfterValidator(_unique)]


class ZoneCreate(Strict):
    name: ShortText
    countries: Countries = []
    regions: Regions = []
    postal_patterns: PostalPatterns = []
    position: Position = 0


class ZoneUpdate(Strict):
    name: ShortText | None = None
    countries: Countries | None = None
    regions: Regions | None = None
    postal_patterns: PostalPatterns | None = None
    position: Position | None = None


class ZoneOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    countries: list[str]
    regions: list[str]
    postal_patterns: list[str]
    position: int
    created_at: datetime
    updated_at: datetime


class ZoneList(BaseModel):
    items: list[ZoneOut]


class MethodCreate(Strict):
    name: ShortText
    code: Code
    description: Description = ""
    is_active: bool = True
    position: Position = 0


class MethodUpdate(Strict):
    name: ShortText | None = None
    code: Code | None = None
    description: Description | None = None
    is_active: bool | None = None
    position: Position | None = None


class MethodOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    zone_id: uuid.UUID
    name: str
    code: str
    description: str
    is_active: bool
    position: int
    created_at: datetime
    updated_at: datetime


class MethodList(BaseModel):
    items: list[MethodOut]


class RateCreate(Strict):
    """``weight`` and ``order_value`` apply inside their band (bounds inclusive, either open);
    ``free_over`` charges ``amount`` below ``free_over_amount`` and nothing from it on."""

    kind: RateKind = "flat"
    currency: CurrencyCode
    amount: Amount
    min_weight_grams: Grams | None = None
    max_weight_grams: Grams | None = None
    min_subtotal: Amount | None = None
    max_subtotal: Amount | None = None
    free_over_amount: Amount | None = None


class RateUpdate(Strict):
    kind: RateKind | None = None
    currency: CurrencyCode | None = None
    amount: Amount | None = None
    min_weight_grams: Grams | None = None
    max_weight_grams: Grams | None = None
    min_subtotal: Amount | None = None
    max_subtotal: Amount | None = None
    free_over_amount: Amount | None = None


class RateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    method_id: uuid.UUID
    kind: str
    currency: str
    amount: int
    min_weight_grams: int | None
    max_weight_grams: int | None
    min_subtotal: int | None
    max_subtotal: int | None
    free_over_amount: int | None
    created_at: datetime
    updated_at: datetime


class RateList(BaseModel):
    items: list[RateOut]
