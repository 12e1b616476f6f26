"""The two reads every domain repeats: one page of a list with its total, and one row or 404.

``paged`` asks for the total in the same statement (``count(*) OVER ()``), so a page is one
round trip; only a page past the end, which returns no row to carry the total, costs a
second count. ``get_or_404`` reads one row by primary key through the session, so row-level
security and the store's search path decide what exists: another store's row answers
exactly like a missing one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.errors import NotFound

T = TypeVar("T")
M = TypeVar("M")


@dataclass(frozen=True)
class Rows(Generic[T]):
    """One page of rows and the number of rows in the whole list."""

    items: Sequence[T]
    total: int
    limit: int
    offset: int

    def map(self, convert: Callable[[T], M]) -> Rows[M]:
        return Rows([convert(item) for item in self.items], self.total, self.limit, self.offset)


async def paged(session: AsyncSession, stmt: Select[Any], *, limit: int, offset: int) -> Rows[Any]:
    """``stmt`` (filtered and ordered, without limit) as one page and its total.

    A statement of one entity or column yields its values; of several, their tuples.
    """
    rows = (
        await session.execute(
            stmt.add_columns(func.count().over().label("_total")).limit(limit).offset(offset)
        )
    ).all()
    if rows:
        total = int(rows[0][-1])
        # One element per selected entity or column (an entity is one, however many
        # columns it has), then the total.
        items = [r[0] for r in rows] if len(rows[0]) == 2 else [tuple(r[:-1]) for r in rows]
        return Rows(items, total, limit, offset)
    if not offset:
        return Rows([], 0, limit, offset)
    counted = select(func.count()).select_from(stmt.order_by(None).subquery())
    return Rows([], int(await session.scalar(counted) or 0), limit, offset)


async def get_or_404(
    session: AsyncSession,
    model: type[M],
    row_id: uuid.UUID,
    *,
    missing: str,
    lock: bool = False,
    where: Sequence[ColumnElement[bool]] = (),
) -> M:
    """The row ``row_id`` of ``model`` (optionally locked ``FOR UPDATE``), else ``NotFound``.

    ``where`` adds conditions a row must also meet (a live row, a parent), so a deleted or
    misplaced row is missing too.
    """
    pk = model.id  # type: ignore[attr-defined]
    stmt = select(model).where(pk == row_id, *where)
    if lock:
        stmt = stmt.with_for_update()
    found = (await session.execute(stmt)).scalar_one_or_none()
    if found is None:
        raise NotFound(missing)
    return found
