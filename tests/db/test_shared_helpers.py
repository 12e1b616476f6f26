"""The helpers every domain shares: pages, get-or-404, unique conflicts, soft deletes, patches."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import DateTime, Integer, MetaData, String, UniqueConstraint, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storefleet.db import constraints
from storefleet.db.base import SoftDeleted
from storefleet.db.constraints import Unique, flush
from storefleet.db.ids import uuid7
from storefleet.db.locks import Key, Seed
from storefleet.db.queries import Rows, get_or_404, paged
from storefleet.errors import Conflict, InvalidInput, NotFound
from storefleet.schemas import Page, Patch, Strict, apply_changes

T = TypeVar("T")


class Base(DeclarativeBase):
    metadata = MetaData()


class Widget(SoftDeleted, Base):
    __tablename__ = "helper_widgets"
    __table_args__ = (UniqueConstraint("code", name="uq_helper_widgets_code"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)
    code: Mapped[str] = mapped_column(String(20))
    rank: Mapped[int] = mapped_column(Integer)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WidgetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    code: str
    rank: int


class WidgetPage(Page[WidgetOut]):
    pass


class WidgetPatch(Strict, Patch):
    NOT_NULL: ClassVar[tuple[str, ...]] = ("code",)
    code: str | None = None
    rank: int | None = None


@pytest.fixture(scope="module")
def run(control_db: URL) -> Iterator[Callable[[Callable[[AsyncSession], Awaitable[T]]], T]]:
    """Run ``work(session)`` (rolled back after) on a table of 25 widgets (5 deleted)."""
    url = control_db.set(drivername="postgresql+psycopg")

    def go(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async def main() -> T:
            engine = create_async_engine(url)
            try:
                async with engine.begin() as conn:
                    await conn.run_sync(Base.metadata.create_all)
                async with AsyncSession(engine, expire_on_commit=False) as session:
                    async with session.begin():
                        if await session.scalar(select(Widget.id).limit(1)) is None:
                            gone = datetime.now(UTC)
                            session.add_all(
                                Widget(
                                    code=f"w{i:02}", rank=i, deleted_at=gone if i >= 20 else None
                                )
                                for i in range(25)
                            )
                    return await work(session)  # closing the session rolls back
            finally:
                await engine.dispose()

        return asyncio.run(main())

    yield go


def test_paged_returns_one_page_and_the_total_of_the_whole_list(run: Any) -> None:
    stmt = select(Widget).where(Widget.live()).order_by(Widget.rank)

    async def work(s: AsyncSession) -> Rows[Widget]:
        return await paged(s, stmt, limit=7, offset=14)

    rows = run(work)
    assert [w.rank for w in rows.items] == [14, 15, 16, 17, 18, 19]
    assert (rows.total, rows.limit, rows.offset) == (20, 7, 14)
    page = WidgetPage.of(rows)
    assert page.total == 20 and page.items[0] == WidgetOut(code="w14", rank=14)
    assert "WidgetPage" in WidgetPage.model_json_schema()["title"]


def test_paged_past_the_end_still_counts_and_several_columns_come_as_tuples(run: Any) -> None:
    async def work(s: AsyncSession) -> tuple[Rows[Any], Rows[Any], Rows[Any]]:
        past = await paged(s, select(Widget).where(Widget.live()), limit=5, offset=500)
        pairs = await paged(
            s, select(Widget.code, Widget.rank).order_by(Widget.rank.desc()), limit=2, offset=0
        )
        empty = await paged(s, select(Widget).where(Widget.rank < 0), limit=5, offset=0)
        return past, pairs, empty

    past, pairs, empty = run(work)
    assert (list(past.items), past.total) == ([], 20)
    assert list(pairs.items) == [("w24", 24), ("w23", 23)] and pairs.total == 25
    assert (list(empty.items), empty.total) == ([], 0)


def test_get_or_404_finds_a_live_row_and_refuses_missing_and_deleted_ones(run: Any) -> None:
    async def work(s: AsyncSession) -> tuple[Widget, list[str]]:
        live = (await s.execute(select(Widget).where(Widget.rank == 3))).scalar_one()
        dead = (await s.execute(select(Widget).where(Widget.rank == 22))).scalar_one()
        found = await get_or_404(s, Widget, live.id, missing="Widget not found", lock=True)
        refused = []
        for row_id in (dead.id, uuid.uuid4()):
            try:
                await get_or_404(
                    s, Widget, row_id, missing="Widget not found", where=[Widget.live()]
                )
            except NotFound as exc:
                refused.append(exc.detail)
        return found, refused

    found, refused = run(work)
    assert found.rank == 3
    assert refused == ["Widget not found", "Widget not found"]


def test_a_unique_violation_becomes_the_conflict_naming_its_field(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        constraints.UNIQUE, "uq_helper_widgets_code", Unique("code", "code is already in use")
    )

    async def work(s: AsyncSession) -> list[tuple[str, str | None]]:
        seen = []
        for savepoint in (True, False):
            s.add(Widget(code="w01", rank=99))
            try:
                await flush(s, savepoint=savepoint)
            except Conflict as exc:
                seen.append((exc.detail, exc.field))
            await s.rollback()
        return seen

    assert run(work) == [("code is already in use", "code")] * 2


def test_an_unmapped_violation_uses_the_callers_conflict_or_stays_an_error(run: Any) -> None:
    from sqlalchemy.exc import IntegrityError

    async def work(s: AsyncSession) -> list[str]:
        seen = []
        for otherwise in (Conflict("that code is taken", field="code"), None):
            s.add(Widget(code="w02", rank=98))
            try:
                await flush(s, otherwise)
            except Conflict as exc:
                seen.append(f"conflict:{exc.field}")
            except IntegrityError:
                seen.append("integrity")
            await s.rollback()
        return seen

    assert run(work) == ["conflict:code", "integrity"]


def test_patch_applies_sent_fields_only_and_refuses_null_on_required_ones() -> None:
    class Row:
        code = "a"
        rank = 1

    row = Row()
    apply_changes(row, WidgetPatch.model_validate({"rank": None}).changes())
    assert (row.code, row.rank) == ("a", None)
    apply_changes(row, WidgetPatch.model_validate({"code": "b"}).changes())
    assert (row.code, row.rank) == ("b", None)
    with pytest.raises(InvalidInput) as refused:
        WidgetPatch.model_validate({"code": None}).changes()
    assert (refused.value.field, refused.value.detail) == ("code", "code cannot be null")


def test_every_advisory_lock_has_its_own_number() -> None:
    numbers = [int(k) for k in Key] + [int(s) for s in Seed]
    assert len(numbers) == len(set(numbers))
    assert Seed.CATALOG_LIMIT.sql() == "hashtextextended(:k, 7303)"
    assert Seed.STORE_WRITES.qualified_sql() == "pg_catalog.hashtextextended(%s, 7301)"
