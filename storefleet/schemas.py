"""The base every request body shares, and the bounded numbers request fields are built from.

PostgreSQL refuses a NUL character in text and cannot store a lone UTF-16 surrogate or a
non-finite number, and an INTEGER or BIGINT column refuses a number past its range. Each of
these would surface as a database error (a 500) deep in a handler; they are refused here, at
the edge, as a 422 naming the field. ``Strict`` checks every string and number anywhere in a
body (nested models, lists, free-form JSON objects, and object keys) before any field is
validated; ``storefleet.api.parameters`` applies the same text check to query, path and header
parameters. Integer fields take their bounds from the types below, each inside the range of
the column it reaches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from storefleet.errors import InvalidInput

T = TypeVar("T")
INT32_MAX = 2**31 - 1  # PostgreSQL INTEGER
INT64_MAX = 2**63 - 1  # PostgreSQL BIGINT

# Money in minor units (BIGINT). 10**15 cents is ten trillion; 1000 units of it still fit.
Amount = Annotated[int, Field(ge=0, le=10**15)]
PositiveAmount = Annotated[int, Field(ge=1, le=10**15)]
# Units of stock or of an order line (INTEGER).
Quantity = Annotated[int, Field(ge=0, le=10**9)]
StockDelta = Annotated[int, Field(ge=-(10**9), le=10**9)]
Count = Annotated[int, Field(ge=0, le=10**9)]
Grams = Annotated[int, Field(ge=0, le=10**9)]
Position = Annotated[int, Field(ge=0, le=1_000_000)]

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
NUL_MESSAGE = "must not contain a NUL character (\\u0000)"
SURROGATE_MESSAGE = "must not contain an unpaired UTF-16 surrogate"
FINITE_MESSAGE = "must be a finite number"

Location = tuple[str | int, ...]


def text_problem(value: str) -> tuple[str, str] | None:
    """``(error type, message)`` when ``value`` cannot be stored as PostgreSQL text."""
    found = _BAD_TEXT.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "string_nul_character", NUL_MESSAGE
    return "string_unpaired_surrogate", SURROGATE_MESSAGE


def unstorable_values(data: Any) -> Iterator[tuple[Location, str, str]]:
    """``(location, error type, message)`` of every string or number in ``data`` that no
    column can hold. Iterative, so a deeply nested JSON object cannot exhaust the stack."""
    stack: list[tuple[Location, Any]] = [((), data)]
    while stack:
        loc, value = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                yield (loc, *problem)
        elif isinstance(value, float):
            if not math.isfinite(value):
                yield loc, "finite_number", FINITE_MESSAGE
        elif isinstance(value, dict):
            for key, item in reversed(value.items()):
                problem = text_problem(key) if isinstance(key, str) else None
                if problem:
                    yield ((*loc, key), *problem)
                else:
                    stack.append(((*loc, key), item))
        elif isinstance(value, list | tuple):
            stack.extend(((*loc, i), item) for i, item in reversed(list(enumerate(value))))


class Strict(BaseModel):
    """Unknown fields are refused: a body never slips in a store_id, role or balance.
    Nor a NUL, a lone surrogate or an infinite number anywhere inside it."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        errors = [
            InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input="")
            for loc, kind, message in unstorable_values(data)
        ]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data


class Page(BaseModel, Generic[T]):
    """One page of a list: every list answer has this shape.

    A list's own page model subclasses ``Page[ItsItem]`` so the OpenAPI schema keeps a name
    a client can read (``ProductPage`` rather than ``Page_ProductSummary_``).
    """

    items: list[T]
    total: int
    limit: int
    offset: int

    @classmethod
    def of(cls, rows: Any, convert: Any = None, **extra: Any) -> Any:
        """The page of ``rows`` (a ``storefleet.db.queries.Rows``), each item converted
        with ``convert`` (default: the item model's ``model_validate``)."""
        if convert is None:
            item = cls.model_fields["items"].annotation.__args__[0]  # type: ignore[union-attr]
            convert = item.model_validate
        return cls(
            items=[convert(r) for r in rows.items],
            total=rows.total,
            limit=rows.limit,
            offset=rows.offset,
            **extra,
        )


MUST_NOT = "must not be null"  # the wording catalog, inventory and pricing answer


def refuse_nulls(
    changes: dict[str, Any], not_null: Iterable[str], message: str = "{name} cannot be null"
) -> None:
    """An explicit ``null`` on a field the row requires is a 422 naming the field.

    ``message`` keeps the wording a domain's API has always answered (``{name}`` is the field).
    """
    for name in not_null:
        if name in changes and changes[name] is None:
            raise InvalidInput(message.format(name=name), field=name)


def apply_changes(row: Any, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(row, name, value)


class Patch(BaseModel):
    """A partial update: only the fields sent change, and ``NOT_NULL`` fields refuse null.

    Mixed into a domain's input base (``class ProductPatch(Strict, Patch)``).
    """

    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    def changes(self) -> dict[str, Any]:
        values = self.model_dump(exclude_unset=True)
        refuse_nulls(values, self.NOT_NULL)
        return values
