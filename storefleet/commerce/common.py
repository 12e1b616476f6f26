"""Pieces every commerce domain's API shares: pagination, sorting, codes, addresses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Query
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from sqlalchemy import ColumnElement, UnaryExpression

from storefleet.commerce.money import is_currency
from storefleet.errors import InvalidInput
from storefleet.schemas import Amount as Amount  # re-exported for the commerce schemas
from storefleet.schemas import Page as Page
from storefleet.schemas import Patch as Patch
from storefleet.schemas import Quantity as Quantity
from storefleet.schemas import Strict as BaseStrict

MAX_PAGE = 200


class Strict(BaseStrict):
    """Commerce input models: unknown fields refused, surrounding whitespace stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class PageParams(BaseModel):
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


def sort_order(
    sort: str | None,
    allowed: Mapping[str, ColumnElement[Any]],
    default: str,
) -> list[UnaryExpression[Any]]:
    """``"-created_at"`` → ``created_at DESC``; only allow-listed columns, else 422 on ``sort``."""
    key = sort or default
    descending = key.startswith("-")
    name = key[1:] if descending else key
    column = allowed.get(name)
    if column is None:
        raise InvalidInput(
            f"cannot sort by {name!r}; allowed: {', '.join(sorted(allowed))}", field="sort"
        )
    return [column.desc() if descending else column.asc()]


def _currency(value: str) -> str:
    if not is_currency(value):
        raise ValueError("not a supported ISO 4217 currency code")
    return value


def _country(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise ValueError("must be an ISO 3166-1 alpha-2 country code such as DE")
    return value


CurrencyCode = Annotated[
    str, StringConstraints(to_upper=True, strip_whitespace=True), AfterValidator(_currency)
]
CountryCode = Annotated[
    str, StringConstraints(to_upper=True, strip_whitespace=True), AfterValidator(_country)
]
Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,118}[a-z0-9])?$", max_length=120)
]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=255)]
LongText = Annotated[str, StringConstraints(max_length=20_000)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AddressIn(Strict):
    first_name: Annotated[str, StringConstraints(max_length=100)] = ""
    last_name: Annotated[str, StringConstraints(max_length=100)] = ""
    company: Annotated[str, StringConstraints(max_length=200)] | None = None
    line1: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    line2: Annotated[str, StringConstraints(max_length=200)] | None = None
    city: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    region: Annotated[str, StringConstraints(max_length=100)] | None = None
    postal_code: Annotated[str, StringConstraints(max_length=20, pattern=r"^[A-Za-z0-9 -]*$")] = ""
    country: CountryCode
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9 ()./-]{4,32}$")] | None = None
