"""Unique constraints a client can collide with, and the 409 each one answers.

Services check the common collisions first (so the answer names the field without a failed
statement); two concurrent writers can still pass the check together, and then the unique
index decides. ``flush`` turns that violation into the same ``Conflict`` the check would
have raised: the constraint's entry in ``UNIQUE`` names the field and says why, or the
caller's ``otherwise`` does when the caller knows better (an email address it can quote).
Any other integrity error is a bug and stays one.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.errors import Conflict

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Unique:
    field: str
    message: str


UNIQUE: dict[str, Unique] = {
    "uq_products_store_slug_live": Unique("slug", "slug is already in use"),
    "uq_product_variants_sku_live": Unique("sku", "sku is already in use"),
    "uq_product_variants_barcode_live": Unique("barcode", "barcode is already in use"),
    "uq_categories_store_id_slug": Unique("slug", "slug is already in use"),
}


def constraint_name(exc: IntegrityError) -> str:
    return getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""


def as_conflict(exc: IntegrityError, otherwise: Conflict | None = None) -> Exception:
    """The ``Conflict`` a unique violation means, or ``exc`` itself when it means none."""
    known = UNIQUE.get(constraint_name(exc))
    if known is not None:
        return Conflict(known.message, field=known.field)
    return otherwise if otherwise is not None else exc


async def flush(
    session: AsyncSession, otherwise: Conflict | None = None, *, savepoint: bool = False
) -> None:
    """Flush; a unique violation raises its ``Conflict``.

    ``savepoint`` flushes inside a SAVEPOINT, for callers that already flushed that way.
    """
    try:
        if savepoint:
            async with session.begin_nested():
                await session.flush()
        else:
            await session.flush()
    except IntegrityError as exc:
        raise as_conflict(exc, otherwise) from None


def unique_conflicts(
    fn: Callable[P, Awaitable[R]],
) -> Callable[P, Coroutine[Any, Any, R]]:
    """A race on a unique index that the pre-checks missed is still a 409 naming the field."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except IntegrityError as exc:
            raise as_conflict(exc) from None

    return wrapper
