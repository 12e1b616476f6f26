"""A store's API calls this UTC calendar month, for the plan's ``max_api_calls_per_month``.

The count lives in the control plane already: the metering flusher adds every request of a
store (those that reached it: not 401/403/404/429) to the day's ``usage_metrics`` row. Each
process re-reads the month's sum at most every ``refresh_seconds`` (in the background after
the first read, so no request waits for it) and adds what it has served itself since that
read began. The count therefore survives restarts and is shared by processes, and can lag
by what sits unflushed in the metering buffers (about one flush interval of traffic).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.control.usage.models import UsageMetric

log = logging.getLogger(__name__)
NEVER = float("-inf")


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


async def requests_in_month(session: AsyncSession, store_id: uuid.UUID, first: date) -> int:
    """Metered requests of the store from ``first`` to the end of that month."""
    total = await session.scalar(
        select(func.coalesce(func.sum(UsageMetric.requests), 0)).where(
            UsageMetric.store_id == store_id,
            UsageMetric.day >= first,
            UsageMetric.day < next_month(first),
        )
    )
    return int(total or 0)


class _Entry:
    __slots__ = ("base", "local", "month", "read_at", "reading")

    def __init__(self, month: date) -> None:
        self.month = month
        self.base = 0
        self.local = 0
        self.read_at = NEVER
        self.reading: asyncio.Future[None] | None = None


class MonthlyRequests:
    """Per store: the month's metered count as last read, plus this process's since then."""

    def __init__(
        self,
        control_sessions: async_sessionmaker[AsyncSession],
        *,
        refresh_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
        max_entries: int = 100_000,
    ) -> None:
        self.control_sessions = control_sessions
        self.refresh_seconds = refresh_seconds
        self.clock = clock
        self.today = today
        self.max_entries = max_entries
        self._entries: dict[uuid.UUID, _Entry] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def peek(self, store_id: uuid.UUID) -> int | None:
        """``count`` without awaiting (a due re-read starts in the background); None before
        the store's first read this month has finished (then await ``count``)."""
        month = month_of(self.today())
        entry = self._entries.get(store_id)
        if entry is None or entry.month != month:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            entry = self._entries[store_id] = _Entry(month)
        if entry.reading is None and self.clock() - entry.read_at >= self.refresh_seconds:
            self._start_read(store_id, entry)
        if entry.reading is not None and entry.read_at == NEVER:
            return None
        return entry.base + entry.local

    async def count(self, store_id: uuid.UUID) -> int:
        """The store's calls this month; reads the control plane only when due."""
        known = self.peek(store_id)
        if known is not None:
            return known
        entry = self._entries[store_id]
        if entry.reading is not None and entry.read_at == NEVER:
            # Nothing read yet: wait for the first read (one read, shared by all waiters).
            await asyncio.shield(entry.reading)
        return entry.base + entry.local

    def add(self, store_id: uuid.UUID) -> None:
        """One more call of the store served by this process."""
        entry = self._entries.get(store_id)
        if entry is not None:
            entry.local += 1

    def _start_read(self, store_id: uuid.UUID, entry: _Entry) -> None:
        entry.reading = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(self._read(store_id, entry))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self, store_id: uuid.UUID, entry: _Entry) -> None:
        served_before = entry.local
        base: int | None = None
        try:
            async with self.control_sessions() as session:
                base = await requests_in_month(session, store_id, entry.month)
        except Exception as exc:
            log.warning("reading the month's API calls of %s failed: %s", store_id, exc)
        finally:
            if base is not None:
                entry.base = base
                # What was served before the read is in the metered sum, or about to be.
                entry.local -= served_before
            # The next read no sooner than a refresh from now, whether this one worked or not.
            entry.read_at = self.clock()
            reading, entry.reading = entry.reading, None
            if reading is not None and not reading.done():
                reading.set_result(None)

    def forget(self) -> None:
        self._entries.clear()
