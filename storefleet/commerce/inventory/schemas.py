"""Request and response bodies of the inventory API: locations, levels, adjustments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from storefleet.commerce.common import Page, Strict
from storefleet.schemas import StockDelta

LocationCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    ),
]
LocationName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
]
# "sold" is written by fulfilment, never by hand.
ManualReason = Literal["received", "correction", "damaged", "returned", "restock", "transfer"]


class LocationCreate(Strict):
    name: LocationName
    code: LocationCode
    is_active: bool = True
    is_default: bool = False
    address: Annotated[dict[str, Any], Field(max_length=50)] = {}


class LocationPatch(Strict):
    name: LocationName | None = None
    code: LocationCode | None = None
    is_active: bool | None = None
    is_default: bool | None = None
    address: Annotated[dict[str, Any], Field(max_length=50)] | None = None


class LocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    code: str
    is_active: bool
    is_default: bool
    address: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class LocationPage(Page[LocationOut]):
    pass


class LevelOut(BaseModel):
    variant_id: uuid.UUID
    location_id: uuid.UUID
    location_code: str
    on_hand: int
    reserved: int
    incoming: int
    available: int
    updated_at: datetime


class LevelPage(Page[LevelOut]):
    pass


class AdjustmentIn(Strict):
    variant_id: uuid.UUID
    location_id: uuid.UUID
    delta: StockDelta
    reason: ManualReason
    note: Annotated[str, StringConstraints(max_length=1000)] = ""

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("must not be zero")
        return value


class AdjustmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    variant_id: uuid.UUID
    location_id: uuid.UUID
    delta: int
    on_hand_after: int
    reason: str
    note: str
    actor: str
    order_id: uuid.UUID | None
    created_at: datetime


class AdjustmentPage(Page[AdjustmentOut]):
    pass
