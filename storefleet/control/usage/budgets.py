"""What the rate limiter counts per store: sliding per-minute windows and the month's calls.

One ``Budgets`` per process, held by the runtime. Per-minute counting is an in-process
sliding window (two fixed windows, the previous one weighted by how much of it still
overlaps), O(1) per key.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.config import Settings
from storefleet.control.accounts.service import PLATFORM_ACCOUNT_TYPES
from storefleet.control.billing.limits import PlanLimitsCache
from storefleet.control.stores.owners import StoreOwners
from storefleet.control.usage.monthly import MonthlyRequests
from storefleet.db.ids import parse_uuid
from storefleet.security.tokens import TokenClaims

PERIOD = 60.0


class SlidingWindow:
    """Per-key request counts over the last ``period`` seconds (approximate, O(1))."""

    def __init__(
        self,
        period: float = PERIOD,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 200_000,
    ) -> None:
        self.period = period
        self.clock = clock
        self.max_keys = max_keys
        # key -> [window index, previous window's count, current window's count]
        self._state: dict[Hashable, list[int]] = {}

    def _slot(self, key: Hashable, index: int) -> list[int]:
        slot = self._state.get(key)
        if slot is None:
            if len(self._state) >= self.max_keys:
                self._make_room(index)
            slot = self._state[key] = [index, 0, 0]
        elif slot[0] != index:
            slot[1] = slot[2] if slot[0] == index - 1 else 0
            slot[2] = 0
            slot[0] = index
        return slot

    def _make_room(self, index: int) -> None:
        """Drop keys idle for a whole window; if that is not enough (many keys active at
        once, e.g. sprayed addresses), the oldest tenth, so the next inserts are O(1)."""
        for key in [k for k, s in self._state.items() if s[0] < index - 1]:
            del self._state[key]
        if len(self._state) >= self.max_keys:
            for key in list(self._state)[: max(1, self.max_keys // 10)]:
                del self._state[key]

    def acquire(self, key: Hashable, limit: int) -> int | None:
        """Count one request; or, when it would pass ``limit``, the seconds to wait."""
        now = self.clock()
        index = int(now // self.period)
        elapsed = now - index * self.period
        slot = self._slot(key, index)
        previous, current = slot[1], slot[2]
        weight = 1.0 - elapsed / self.period
        if previous * weight + current + 1 <= limit:
            slot[2] += 1
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
        if slot is not None and slot[0] == int(self.clock() // self.period) and slot[2] > 0:
            slot[2] -= 1


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

    def set_clock(self, clock: Callable[[], float]) -> None:
        for window in (self.admin, self.storefront, self.clients):
            window.clock = clock

    async def is_member(self, claims: TokenClaims | None, store_id: uuid.UUID) -> bool:
        """Whether the token is the store's owner's or one of its staff's."""
        if claims is None:
            return False
        if claims.account_type == "staff":
            return parse_uuid(claims.store_id) == store_id
        if claims.account_type in PLATFORM_ACCOUNT_TYPES:
            owner = await self.owners.owner_of(store_id)
            return owner is not None and parse_uuid(claims.sub) == owner
        return False

    @classmethod
    def build(
        cls,
        settings: Settings,
        control_sessions: async_sessionmaker[AsyncSession],
        limits: PlanLimitsCache,
    ) -> Budgets:
        return cls(
            limits=limits,
            owners=StoreOwners(control_sessions),
            admin=SlidingWindow(),
            storefront=SlidingWindow(),
            clients=SlidingWindow(),
            monthly=MonthlyRequests(
                control_sessions, refresh_seconds=settings.monthly_usage_refresh_seconds
            ),
            client_share=settings.storefront_client_share,
        )
