"""Response bodies of the usage API."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class DayUsageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date
    requests: int
    errors: int
    orders: int
    products: int
    storage_bytes: int


class UsageTotals(BaseModel):
    requests: int
    errors: int
    orders: int


class UsageOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    store_id: uuid.UUID
    start: date = Field(serialization_alias="from")
    end: date = Field(serialization_alias="to")
    days: list[DayUsageOut]
    totals: UsageTotals
