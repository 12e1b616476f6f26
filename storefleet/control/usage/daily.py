"""Usage per day: what a store's usage page shows, and the tenant figures filled in daily.

Requests and errors are counted as they are metered (``storefleet.control.usage.service``);
orders, products and storage come from each store's own data, once a day, by
``storefleet usage aggregate``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.activity import day_activity
from storefleet.control.placements.models import StoreDatabase
from storefleet.control.placements.plane import Stores, store_scope
from storefleet.control.stores.models import Store
from storefleet.control.usage.models import UsageMetric
from storefleet.errors import InvalidInput

log = logging.getLogger(__name__)

MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class DayUsage:
    day: date
    requests: int = 0
    errors: int = 0
    orders: int = 0
    products: int = 0
    storage_bytes: int = 0


def check_range(start: date | None, end: date | None) -> tuple[date, date]:
    today = datetime.now(UTC).date()
    end = end or today
    start = start or end - timedelta(days=29)
    if start > end:
        raise InvalidInput("from must not be after to", field="from")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput(f"at most {MAX_RANGE_DAYS} days per request", field="from")
    return start, end


async def daily_usage(
    session: AsyncSession, store_id: uuid.UUID, start: date, end: date
) -> list[DayUsage]:
    """One entry per day in [start, end], zeros where nothing was recorded."""
    rows = await session.execute(
        select(UsageMetric).where(
            UsageMetric.store_id == store_id, UsageMetric.day >= start, UsageMetric.day <= end
        )
    )
    found = {m.day: m for m in rows.scalars()}
    out = []
    day = start
    while day <= end:
        m = found.get(day)
        out.append(
            DayUsage(day, m.requests, m.errors, m.orders, m.products, m.storage_bytes)
            if m
            else DayUsage(day)
        )
        day += timedelta(days=1)
    return out


@dataclass
class AggregateReport:
    day: date
    stores: int = 0
    failed: list[tuple[uuid.UUID, str]] = field(default_factory=list)


STORAGE_SQL = text(
    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')"
)


async def aggregate_day(
    runtime: Stores, day: date, store_ids: list[uuid.UUID] | None = None
) -> AggregateReport:
    """Fill orders, products and storage of ``day`` for every ready store, from its tenant.

    products: live products at the end of the day; orders: orders created that day;
    storage_bytes: the store's schema size in ``schema`` and ``database`` placement, 0 in
    ``pool`` (shared tables have no per-store size).
    """
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    query = (
        select(StoreDatabase.store_id, StoreDatabase.placement)
        .join(Store, Store.id == StoreDatabase.store_id)
        .where(StoreDatabase.status == "ready", Store.live())
        .order_by(StoreDatabase.store_id)
    )
    if store_ids is not None:
        query = query.where(StoreDatabase.store_id.in_(store_ids))
    async with runtime.control_sessions() as session:
        targets = [(r[0], r[1]) for r in await session.execute(query)]
    report = AggregateReport(day)
    for store_id, placement in targets:
        try:
            scope = await store_scope(runtime, store_id)
            async with scope.read() as tenant:
                orders, products, storage = await store_day(tenant, store_id, placement, start)
        except Exception as exc:
            report.failed.append((store_id, type(exc).__name__))
            log.warning("usage aggregate for store %s failed: %s", store_id, type(exc).__name__)
            continue
        async with runtime.control_sessions() as session, session.begin():
            stmt = insert(UsageMetric).values(
                store_id=store_id,
                day=day,
                requests=0,
                errors=0,
                orders=orders,
                products=products,
                storage_bytes=storage,
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["store_id", "day"],
                    set_={
                        "orders": stmt.excluded.orders,
                        "products": stmt.excluded.products,
                        "storage_bytes": stmt.excluded.storage_bytes,
                    },
                )
            )
        report.stores += 1
    return report


async def store_day(
    session: AsyncSession, store_id: uuid.UUID, placement: str, start: datetime
) -> tuple[int, int, int]:
    """Orders created, products live at its end, and storage, of the day from ``start``."""
    activity = await day_activity(session, store_id, start, start + timedelta(days=1))
    storage = 0 if placement == "pool" else await session.scalar(STORAGE_SQL)
    return activity.orders, activity.products, int(storage or 0)
