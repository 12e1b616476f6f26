"""Per-minute rate counts shared by every API process, through one unlogged control table.

Each process counts in memory (``SharedWindow``: O(1), no await on the request path) and,
every ``interval`` (``rate_limit_sync_seconds``, 0.1 s by default), sends what changed per
(window kind, key, window index) in one statement: an upsert over arrays that adds its
changes to ``rate_counters`` and returns every process's total for those keys, plus the
totals of keys it only asks about (a key new to this process: its previous window). The
others' count is the total less this process's own; requests are admitted while
``own + others' last-known < limit``.

The bound: for a store's windows (admin, storefront), every key a process served this
minute is refreshed on every sync, so the others' counts it knows are at most one interval
(and a round trip) old; together the processes can admit at most about one interval's worth
of the store's traffic beyond the limit (at 100 requests/s over all processes, some 10
requests at 0.1 s). A key new to a process starts from "others: 0" until its first sync,
within the same bound. Per-client windows (many keys) are refreshed only when the client
calls that process again, so one client may get one interval's worth of extra calls per
process it comes back to; the store-wide storefront limit still holds as above.

When the control plane cannot be reached the sync logs once, keeps the changes to send
later and retries every second; requests are never failed for it. Meanwhile each process counts its
own requests plus what it last knew of the others, which ages out as windows pass: after
two minutes every process limits on its own count alone (so N processes allow up to N
times the limit until the sync is back). Windows older than the previous one are pruned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storefleet.background import BackgroundLoop

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS = 60.0

# Changed counts are added (rows locked in one order: several processes sync at once); keys
# only asked about are read, not written.
SYNC_COUNTS = text(
    """
    WITH sent AS (
        SELECT * FROM unnest(CAST(:kinds AS text[]), CAST(:keys AS text[]),
                             CAST(:windows AS bigint[]), CAST(:deltas AS bigint[]))
            AS t(kind, key, window_index, delta)
    ), added AS (
        INSERT INTO rate_counters (kind, key, window_index, count)
        SELECT kind, key, window_index, delta FROM sent WHERE delta <> 0
        ORDER BY kind, key, window_index
        ON CONFLICT (kind, key, window_index) DO UPDATE
        SET count = rate_counters.count + excluded.count
        RETURNING kind, key, window_index, count
    )
    SELECT kind, key, window_index, count FROM added
    UNION ALL
    SELECT c.kind, c.key, c.window_index, c.count
    FROM rate_counters c JOIN sent s USING (kind, key, window_index)
    WHERE s.delta = 0
    """
)
PRUNE_COUNTS = text("DELETE FROM rate_counters WHERE window_index < :oldest")


def key_text(key: Hashable) -> str:
    """A window key as every process spells it: a store id, or store id and client."""
    if isinstance(key, tuple):
        return "/".join(str(part) for part in key)
    return str(key)


Taken = list[tuple[Hashable, int, int, int | None]]  # as ``budgets.Taken``


class SharedWindow(Protocol):
    """What the sync needs of a ``budgets.SlidingWindow``."""

    kind: str
    period: float
    clock: Callable[[], float]

    def take_pending(self) -> Taken: ...

    def give_back(self, taken: Taken) -> None: ...

    def learn(self, key: Hashable, index: int, total: int, local: int) -> None: ...


class RateCounterSync(BackgroundLoop):
    """Exchanges this process's per-minute counts with the others', every ``interval``."""

    name = "rate-counter-sync"

    def __init__(
        self,
        control_engine: AsyncEngine,
        windows: Sequence[SharedWindow],
        *,
        interval: float,
    ) -> None:
        super().__init__()
        self.control_engine = control_engine
        self.windows = tuple(windows)
        self.interval = interval
        self.failing = False
        self.syncs = 0

    async def sync_once(self) -> int:
        """Send the changes, learn the totals; returns the rows exchanged."""
        taken = [(window, window.take_pending()) for window in self.windows]
        sent: dict[tuple[str, str, int], tuple[SharedWindow, Hashable, int, int | None]] = {}
        for window, window_rows in taken:
            for key, index, delta, local in window_rows:
                spelled = (window.kind, key_text(key), index)
                earlier = sent.get(spelled)
                if earlier is not None:  # one row per key and window: the statement needs it
                    delta += earlier[2]
                sent[spelled] = (window, key, delta, local)
        if not sent:
            return 0
        ordered = sorted(sent)
        params: dict[str, Any] = {
            "kinds": [k[0] for k in ordered],
            "keys": [k[1] for k in ordered],
            "windows": [k[2] for k in ordered],
            "deltas": [sent[k][2] for k in ordered],
        }
        try:
            # One statement, atomic by itself: autocommit spares BEGIN and COMMIT round trips.
            async with self.control_engine.connect() as conn:
                conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
                totals = (await conn.execute(SYNC_COUNTS, params)).all()
        except BaseException:
            for window, window_rows in taken:
                window.give_back(window_rows)
            raise
        for kind, key, index, total in totals:
            found = sent.get((kind, key, index))
            if found is not None and found[3] is not None:
                found[0].learn(found[1], index, int(total), found[3])
        self.syncs += 1
        return len(totals)

    async def prune(self) -> int:
        """Forget windows no process counts any more (older than the previous one)."""
        window = self.windows[0]
        oldest = int(window.clock() // window.period) - 1
        async with self.control_engine.begin() as conn:
            result = await conn.execute(PRUNE_COUNTS, {"oldest": oldest})
        return int(getattr(result, "rowcount", 0) or 0)

    async def run(self) -> None:
        next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        while not self.stopping:
            await asyncio.sleep(max(self.interval, 1.0) if self.failing else self.interval)
            try:
                await self.sync_once()
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                    await self.prune()
                if self.failing:
                    log.info("rate counter sync works again")
                self.failing = False
            except Exception as exc:
                if not self.failing:  # once per outage, not ten times a second
                    log.warning(
                        "rate counter sync failed (%s); limiting on this process's counts "
                        "and the others' last known until it works again",
                        type(exc).__name__,
                    )
                self.failing = True
