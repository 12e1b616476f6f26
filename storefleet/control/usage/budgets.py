"""What the rate limiter counts per store: sliding per-minute windows and the month's calls.

One ``Budgets`` per process, held by the runtime. Per-minute counting is a sliding window
(two fixed windows, the previous one weighted by how much of it still overlaps), O(1) per
key and never awaited: a request only updates counters in memory. What the other API
processes counted arrives through ``RateCounterSync`` (``rate_sync``), every
``rate_limit_sync_seconds``, as each key's "others" counts; a request is admitted while this
process's count plus the others' last-known count stays within the limit. Windows are
numbered from the wall clock (``time.time``) so that every process numbers them alike.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storefleet.config import Settings
from storefleet.control.accounts.service import PLATFORM_ACCOUNT_TYPES
from storefleet.control.billing.limits import PlanLimitsCache
from storefleet.control.stores.owners import MISSING, StoreOwners
from storefleet.control.usage.monthly import MonthlyRequests
from storefleet.control.usage.rate_sync import RateCounterSync
from storefleet.db.ids import parse_uuid
from storefleet.security.tokens import TokenClaims

PERIOD = 60.0
# A slot: [window index, previous window's count, current window's count] of this process,
# the others' last-known [previous, current], then this process's change to the current
# window not yet sent and whether the key is on the list to send.
INDEX, PREVIOUS, CURRENT, OTHERS_PREVIOUS, OTHERS_CURRENT, UNSENT, LISTED = range(7)

# What a window hands to the sync: (key, window index, change, this process's count there).
Taken = list[tuple[Hashable, int, int, int | None]]


class SlidingWindow:
    """Per-key request counts over the last ``period`` seconds (approximate, O(1)).

    Once shared (``share``), a counted request also adds to its slot's unsent change and
    lists the key once per sync: no second dictionary on the request path.
    """

    def __init__(
        self,
        period: float = PERIOD,
        *,
        clock: Callable[[], float] = time.time,
        max_keys: int = 200_000,
        kind: str = "window",
        refresh_active: bool = False,
    ) -> None:
        self.period = period
        self.clock = clock
        self.max_keys = max_keys
        self.kind = kind
        self.refresh_active = refresh_active
        self.shared = False
        self._state: dict[Hashable, list[int]] = {}
        self._listed: list[Hashable] = []
        # Changes to windows no longer current, and previous windows to ask about (0).
        self._older: dict[tuple[Hashable, int], int] = {}

    def share(self) -> None:
        self.shared = True

    @property
    def unsent(self) -> int:
        """The changes waiting for the next sync, all windows together."""
        return sum(s[UNSENT] for s in self._state.values()) + sum(self._older.values())

    def _slot(self, key: Hashable, index: int) -> list[int]:
        slot = self._state.get(key)
        if slot is None:
            if len(self._state) >= self.max_keys:
                self._make_room(index)
            slot = self._state[key] = [index, 0, 0, 0, 0, 0, 0]
            if self.shared:
                # New here: ask what the others counted in the previous window too.
                self._older.setdefault((key, index - 1), 0)
        elif slot[INDEX] != index:
            if slot[UNSENT]:
                self._older[key, slot[INDEX]] = slot[UNSENT]
                slot[UNSENT] = 0
            consecutive = slot[INDEX] == index - 1
            slot[PREVIOUS] = slot[CURRENT] if consecutive else 0
            slot[OTHERS_PREVIOUS] = slot[OTHERS_CURRENT] if consecutive else 0
            slot[CURRENT] = slot[OTHERS_CURRENT] = 0
            slot[INDEX] = index
        return slot

    def _make_room(self, index: int) -> None:
        """Drop keys idle for a whole window; if that is not enough (many keys active at
        once, e.g. sprayed addresses), the oldest tenth, so the next inserts are O(1)."""
        for key in [k for k, s in self._state.items() if s[INDEX] < index - 1]:
            del self._state[key]
        if len(self._state) >= self.max_keys:
            for key in list(self._state)[: max(1, self.max_keys // 10)]:
                del self._state[key]

    def _changed(self, key: Hashable, slot: list[int], delta: int) -> None:
        slot[UNSENT] += delta
        if not slot[LISTED]:
            slot[LISTED] = 1
            self._listed.append(key)

    def acquire(self, key: Hashable, limit: int) -> int | None:
        """Count one request; or, when it would pass ``limit``, the seconds to wait."""
        now = self.clock()
        index = int(now // self.period)
        elapsed = now - index * self.period
        slot = self._slot(key, index)
        previous = slot[PREVIOUS] + slot[OTHERS_PREVIOUS]
        current = slot[CURRENT] + slot[OTHERS_CURRENT]
        weight = 1.0 - elapsed / self.period
        if previous * weight + current + 1 <= limit:
            slot[CURRENT] += 1
            if self.shared:
                self._changed(key, slot, 1)
            return None
        if current + 1 > limit:
            # Wait for this window to end, then for enough of it to slide out.
            slide = self.period * max(0.0, 1 - (limit - 1) / current) if current else 0.0
            wait = (self.period - elapsed) + slide
        else:
            wait = self.period * (1 - (limit - 1 - current) / previous) - elapsed
        return max(1, math.ceil(wait))

    def release(self, key: Hashable) -> None:
        """Hand back a request counted by ``acquire`` (if its window is still current)."""
        slot = self._state.get(key)
        if (
            slot is not None
            and slot[INDEX] == int(self.clock() // self.period)
            and slot[CURRENT] > 0
        ):
            slot[CURRENT] -= 1
            if self.shared:
                self._changed(key, slot, -1)

    def take_pending(self) -> Taken:
        """What to send: (key, window index, change, this process's count there now)."""
        if not self.shared:
            return []
        taken: Taken = []
        listed, self._listed = self._listed, []
        for key in listed:
            slot = self._state.get(key)
            if slot is not None and slot[LISTED]:
                taken.append((key, slot[INDEX], slot[UNSENT], slot[CURRENT]))
                slot[UNSENT] = slot[LISTED] = 0
        older, self._older = self._older, {}
        for (key, index), delta in older.items():
            slot = self._state.get(key)
            known = slot is not None and slot[INDEX] == index + 1
            taken.append((key, index, delta, slot[PREVIOUS] if known and slot else None))
        if self.refresh_active:
            # Keys this process served this minute are kept up to date even while it serves
            # none of them: it must know the others' count when its next request comes.
            index = int(self.clock() // self.period)
            sent = set(listed)
            for key, slot in self._state.items():
                if slot[INDEX] == index and key not in sent:
                    taken.append((key, index, 0, slot[CURRENT]))
        return taken

    def give_back(self, taken: Taken) -> None:
        """A sync failed: send its changes next time (those of windows still counted)."""
        oldest = int(self.clock() // self.period) - 1
        for key, index, delta, _local in taken:
            if not delta or index < oldest:
                continue
            slot = self._state.get(key)
            if slot is not None and slot[INDEX] == index:
                self._changed(key, slot, delta)
            else:
                self._older[key, index] = self._older.get((key, index), 0) + delta

    def learn(self, key: Hashable, index: int, total: int, local: int) -> None:
        """Every process's ``total`` for the key's window, of which ``local`` is ours."""
        slot = self._state.get(key)
        if slot is None:
            return
        others = max(0, total - local)
        if slot[INDEX] == index:
            slot[OTHERS_CURRENT] = others
        elif slot[INDEX] == index + 1:
            slot[OTHERS_PREVIOUS] = others


@dataclass
class Budgets:
    """A runtime's limits cache, owner cache, windows and monthly counts."""

    limits: PlanLimitsCache
    owners: StoreOwners
    admin: SlidingWindow  # per store: its owner's and staff's calls
    storefront: SlidingWindow  # per store: every shopper's calls
    clients: SlidingWindow  # per (store, client): one shopper's calls
    monthly: MonthlyRequests
    client_share: float
    sync: RateCounterSync | None = None

    def set_clock(self, clock: Callable[[], float]) -> None:
        for window in self.windows:
            window.clock = clock

    @property
    def windows(self) -> tuple[SlidingWindow, SlidingWindow, SlidingWindow]:
        return (self.admin, self.storefront, self.clients)

    def start_sync(self) -> None:
        """Share the per-minute counts with the other processes (none when the interval
        is 0); started by the API app, stopped by ``Runtime.aclose``."""
        if self.sync is not None:
            for window in self.windows:
                window.share()
            self.sync.start()

    async def stop_sync(self) -> None:
        if self.sync is not None:
            await self.sync.stop()

    def peek_member(self, claims: TokenClaims | None, store_id: uuid.UUID) -> bool | None:
        """``is_member`` without awaiting; None when the owner is not cached yet."""
        if claims is None:
            return False
        if claims.account_type == "staff":
            return parse_uuid(claims.store_id) == store_id
        if claims.account_type in PLATFORM_ACCOUNT_TYPES:
            owner = self.owners.peek(store_id)
            if owner is MISSING:
                return None
            return owner is not None and parse_uuid(claims.sub) == owner
        return False

    async def is_member(self, claims: TokenClaims | None, store_id: uuid.UUID) -> bool:
        """Whether the token is the store's owner's or one of its staff's."""
        known = self.peek_member(claims, store_id)
        if known is not None:
            return known
        assert claims is not None
        owner = await self.owners.owner_of(store_id)
        return owner is not None and parse_uuid(claims.sub) == owner

    @classmethod
    def build(
        cls,
        settings: Settings,
        control_sessions: async_sessionmaker[AsyncSession],
        limits: PlanLimitsCache,
        control_engine: AsyncEngine,
    ) -> Budgets:
        windows = (
            # Keyed by store: few keys, every active one refreshed on every sync.
            SlidingWindow(kind="admin", refresh_active=True),
            SlidingWindow(kind="storefront", refresh_active=True),
            # Keyed by (store, client): many keys, refreshed when the client calls again.
            SlidingWindow(kind="client"),
        )
        interval = settings.rate_limit_sync_seconds
        return cls(
            limits=limits,
            owners=StoreOwners(control_sessions),
            admin=windows[0],
            storefront=windows[1],
            clients=windows[2],
            monthly=MonthlyRequests(
                control_sessions, refresh_seconds=settings.monthly_usage_refresh_seconds
            ),
            client_share=settings.storefront_client_share,
            sync=RateCounterSync(control_engine, windows, interval=interval)
            if interval > 0
            else None,
        )
