"""API usage metering: an in-process buffer, batched writes, daily metrics, retention.

Requests never touch the database for metering: the middleware appends a record to a
bounded deque (dropping the oldest, and counting them, when full) and a background task
writes batches with one multi-row INSERT, upserting the per-store daily ``usage_metrics``
in the same transaction. Orders, products and storage per day come from the tenants, via
``storefleet usage aggregate`` (``storefleet.control.usage.daily``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.background import STOP_TIMEOUT_SECONDS, BackgroundLoop
from storefleet.control.stores.models import Store
from storefleet.errors import InvalidInput

log = logging.getLogger(__name__)

# Callers refused before reaching the store's data (429: by the rate limiter or the login
# throttle): logged, but not the store's usage, so a flood refused does not use up the plan.
NOT_THE_STORES = frozenset({401, 403, 404, 429})
PRUNE_EVERY_SECONDS = 3600.0
FIRST_PRUNE_AFTER_SECONDS = 60.0


@dataclass(slots=True)
class UsageRecord:
    at: datetime
    store_id: uuid.UUID | None
    account_id: uuid.UUID | None
    method: str
    route: str
    status: int
    duration_ms: int


COPY_LOGS = (
    "COPY api_usage_logs (store_id, account_id, method, route, status, duration_ms, created_at) "
    "FROM STDIN"
)
UPSERT_METRICS = text(
    """
    INSERT INTO usage_metrics (store_id, day, requests, errors, orders, products, storage_bytes)
    SELECT s, d, r, e, 0, 0, 0
    FROM unnest(CAST(:stores AS uuid[]), CAST(:days AS date[]), CAST(:requests AS bigint[]),
                CAST(:errors AS bigint[])) AS t(s, d, r, e)
    ORDER BY s, d
    ON CONFLICT (store_id, day) DO UPDATE
    SET requests = usage_metrics.requests + excluded.requests,
        errors = usage_metrics.errors + excluded.errors
    """
)


async def write_batch(session: AsyncSession, batch: list[UsageRecord]) -> None:
    """COPY the logs and upsert the day's metrics, in the caller's transaction.

    COPY and a constant upsert over arrays keep the flush cheap for the process that also
    serves requests: no per-row SQL to build or compile.
    """
    named = {r.store_id for r in batch if r.store_id is not None}
    existing = (
        set((await session.scalars(select(Store.id).where(Store.id.in_(named)))).all())
        if named
        else set()
    )
    # A path or header may name any UUID: only stores that exist get usage rows, so a caller
    # inventing store ids cannot grow the metrics table (their requests are logged unowned).
    batch = [r if r.store_id is None or r.store_id in existing else _unowned(r) for r in batch]
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    async with driver.cursor() as cursor, cursor.copy(COPY_LOGS) as copy:
        for r in batch:
            await copy.write_row(
                (r.store_id, r.account_id, r.method, r.route, r.status, r.duration_ms, r.at)
            )
    requests: Counter[tuple[uuid.UUID, date]] = Counter()
    errors: Counter[tuple[uuid.UUID, date]] = Counter()
    for r in batch:
        if r.store_id is None or r.status in NOT_THE_STORES:
            continue
        key = (r.store_id, r.at.date())
        requests[key] += 1
        if r.status >= 400:
            errors[key] += 1
    if not requests:
        return
    # Sorted: concurrent flushers (several processes) lock rows in the same order.
    keys = sorted(requests)
    await session.execute(
        UPSERT_METRICS,
        {
            "stores": [k[0] for k in keys],
            "days": [k[1] for k in keys],
            "requests": [requests[k] for k in keys],
            "errors": [errors[k] for k in keys],
        },
    )


def _unowned(record: UsageRecord) -> UsageRecord:
    return UsageRecord(
        record.at,
        None,
        record.account_id,
        record.method,
        record.route,
        record.status,
        record.duration_ms,
    )


@dataclass
class RecorderStats:
    recorded: int = 0
    written: int = 0
    dropped: int = 0
    failed_flushes: int = 0


class UsageRecorder(BackgroundLoop):
    """The buffer between requests and ``api_usage_logs``, and its background flusher."""

    name = "usage-flusher"

    def __init__(
        self,
        control_sessions: async_sessionmaker[AsyncSession],
        *,
        capacity: int = 100_000,
        flush_interval: float = 1.0,
        batch_size: int = 500,
        retention_days: int = 30,
    ) -> None:
        super().__init__()
        self.control_sessions = control_sessions
        self.flush_interval = flush_interval
        self.batch_size = max(1, batch_size)
        self.retention_days = retention_days
        self.stats = RecorderStats()
        self._buffer: deque[UsageRecord] = deque(maxlen=max(1, capacity))
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def record(self, record: UsageRecord) -> None:
        """O(1), never blocks, never touches the database."""
        if len(self._buffer) == self._buffer.maxlen:
            self.stats.dropped += 1
        self._buffer.append(record)
        self.stats.recorded += 1
        if len(self._buffer) >= self.batch_size:
            self._wake.set()

    async def flush(self) -> int:
        """Write what is buffered now, in batches; returns the rows written.

        Only the records present when the flush starts: under load, records keep arriving
        while a batch is written, and chasing them would write a trickle of tiny batches.
        """
        written = 0
        async with self._lock:
            remaining = self.pending
            while remaining > 0 and self._buffer:
                size = min(self.batch_size, remaining, self.pending)
                remaining -= size
                batch = [self._buffer.popleft() for _ in range(size)]
                try:
                    async with self.control_sessions() as session, session.begin():
                        await write_batch(session, batch)
                except BaseException:
                    # Failed or cancelled (shutdown) mid-write: the batch was not committed,
                    # so it goes back to the buffer for the next flush.
                    self.stats.failed_flushes += 1
                    self._requeue(batch)
                    raise
                written += len(batch)
                self.stats.written += len(batch)
        return written

    def _requeue(self, batch: list[UsageRecord]) -> None:
        """Put a failed batch back in front, as much as fits; the rest counts as dropped."""
        maxlen = self._buffer.maxlen or len(batch)
        room = max(0, maxlen - len(self._buffer))
        keep = batch[len(batch) - room :] if room < len(batch) else batch
        self.stats.dropped += len(batch) - len(keep)
        self._buffer.extendleft(reversed(keep))

    async def stop(self, *, within: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop the loop and write what is left (best effort)."""
        await super().stop(within=within)
        try:
            await self.flush()
        except Exception:
            log.warning("final usage flush failed; %d records lost", self.pending)

    async def run(self) -> None:
        next_prune = time.monotonic() + FIRST_PRUNE_AFTER_SECONDS
        failing = False
        while not self.stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval)
            self._wake.clear()
            try:
                await self.flush()
                failing = False
            except Exception as exc:
                if not failing:  # once per outage, not once per second
                    log.warning("usage flush failed (%s); will retry", type(exc).__name__)
                failing = True
                await asyncio.sleep(self.flush_interval)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                try:
                    removed = await prune(self.control_sessions, self.retention_days)
                    if removed:
                        log.info("pruned %d api usage logs", removed)
                except Exception:
                    log.exception("pruning api usage logs failed")


async def prune(
    control_sessions: async_sessionmaker[AsyncSession], retention_days: int, *, batch: int = 10_000
) -> int:
    """Delete logs older than the retention, in short transactions."""
    if retention_days < 1:
        raise InvalidInput("retention must be at least one day", field="retention_days")
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    removed = 0
    while True:
        async with control_sessions() as session, session.begin():
            result = await session.execute(
                text(
                    "DELETE FROM api_usage_logs WHERE id IN (SELECT id FROM api_usage_logs "
                    "WHERE created_at < :cutoff ORDER BY id LIMIT :batch)"
                ),
                {"cutoff": cutoff, "batch": batch},
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        removed += count
        if count < batch:
            return removed
