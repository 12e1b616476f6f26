"""Request and response bodies for tax classes, tax rules and the tax settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from storefleet.commerce.common import CountryCode, ShortText, Strict

TaxCode = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"),
]
Description = Annotated[str, StringConstraints(max_length=2000)]
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# fnmatch-style: letters, digits, space and dash, with * and ? as wildcards (``10*``).
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
RateBp = Annotated[int, Field(ge=0, le=100_000, description="basis points: 1900 = 19%")]
Priority = Annotated[int, Field(ge=-1000, le=1000)]


class TaxClassCreate(Strict):
    name: ShortText
    code: TaxCode
    description: Description = ""
    is_default: bool = False


class TaxClassUpdate(Strict):
    name: ShortText | None = None
    code: TaxCode | None = None
    description: Description | None = None
    is_default: bool | None = None


class TaxClassOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    code: str
    description: str
    is_default: bool
    created_at: datetime
    updated_at: datetime


class TaxClassList(BaseModel):
    items: list[TaxClassOut]


class TaxRuleCreate(Strict):
    name: Annotated[str, StringConstraints(max_length=100)] = ""
    country: CountryCode
    region: Region | None = None
    postal_pattern: PostalPattern | None = None
    rate_bp: RateBp
    priority: Priority = 0
    is_compound: bool = False


class TaxRuleUpdate(Strict):
    name: Annotated[str, StringConstraints(max_length=100)] | None = None
    country: CountryCode | None = None
    region: Region | None = None
    postal_pattern: PostalPattern | None = None
    rate_bp: RateBp | None = None
    priority: Priority | None = None
    is_compound: bool | None = None


class TaxRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tax_class_id: uuid.UUID = Field(validation_alias="tax_id")
    name: str
    country: str
    region: str | None
    postal_pattern: str | None
    rate_bp: int
    priority: int
    is_compound: bool
    created_at: datetime
    updated_at: datetime


class TaxRuleList(BaseModel):
    items: list[TaxRuleOut]


class TaxSettings(Strict):
    prices_include_tax: bool
