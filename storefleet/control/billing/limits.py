"""Plan limits where they bite: products and orders a month (402 naming the limit) and the
per-minute API rate.

Product creation reads the plan fresh (rare, and must be exact). Checkout and the rate
limiter ask for a store's limits on every call, so ``PlanLimitsCache`` keeps them in memory
for a short TTL; a plan change in this process invalidates the store's entry at once, other
processes catch up within the TTL. The count a limit is checked against is always exact.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.control.billing.models import Plan, Subscription
from storefleet.errors import PaymentRequired

MISSING = object()  # ``PlanLimitsCache.peek``: not cached (or expired)


class PlanLimitReached(PaymentRequired):
    code = "plan-limit"
    title = "Plan limit reached"


@dataclass(frozen=True)
class PlanLimits:
    plan: str
    max_products: int | None
    max_orders_per_month: int | None
    max_api_calls_per_minute: int | None
    max_api_calls_per_month: int | None = None


async def limits_of(session: AsyncSession, store_id: uuid.UUID) -> PlanLimits | None:
    """The limits of the store's current plan; None when the store has no subscription."""
    row = (
        await session.execute(
            select(
                Plan.code,
                Plan.max_products,
                Plan.max_orders_per_month,
                Plan.max_api_calls_per_minute,
                Plan.max_api_calls_per_month,
            )
            .join(Subscription, Subscription.plan_id == Plan.id)
            .where(Subscription.store_id == store_id)
        )
    ).first()
    if row is None:
        return None
    return PlanLimits(row[0], row[1], row[2], row[3], row[4])


async def check_product_limit(
    control_sessions: async_sessionmaker[AsyncSession], store_id: uuid.UUID, current_count: int
) -> None:
    """Raise 402 when one more product would exceed the plan (``current_count`` live now)."""
    async with control_sessions() as session:
        limits = await limits_of(session, store_id)
    if limits is None or limits.max_products is None:
        return
    if current_count >= limits.max_products:
        raise PlanLimitReached(
            f"The {limits.plan} plan allows {limits.max_products} products; upgrade the plan "
            "to add more",
            limit="max_products",
            plan=limits.plan,
            current=current_count,
            allowed=limits.max_products,
        )


class PlanLimitsCache:
    """Store id → plan limits, for ``ttl`` seconds, at most ``max_entries`` stores."""

    def __init__(
        self,
        control_sessions: async_sessionmaker[AsyncSession],
        *,
        ttl: float = 30.0,
        max_entries: int = 100_000,
    ) -> None:
        self.control_sessions = control_sessions
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[uuid.UUID, tuple[float, PlanLimits | None]] = OrderedDict()
        self._generation = 0

    def peek(self, store_id: uuid.UUID) -> PlanLimits | object | None:
        """The cached, unexpired limits without awaiting, or ``MISSING`` (then ``get``)."""
        hit = self._entries.get(store_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        return MISSING

    async def get(self, store_id: uuid.UUID) -> PlanLimits | None:
        now = time.monotonic()
        hit = self._entries.get(store_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        async with self.control_sessions() as session:
            limits = await limits_of(session, store_id)
        if generation == self._generation:
            # An invalidation while we read means our answer may be stale: do not keep it.
            self._entries[store_id] = (now + self.ttl, limits)
            self._entries.move_to_end(store_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return limits

    def invalidate(self, store_id: uuid.UUID | None = None) -> None:
        self._generation += 1
        if store_id is None:
            self._entries.clear()
        else:
            self._entries.pop(store_id, None)


def invalidate_after_commit(
    session: AsyncSession, cache: PlanLimitsCache, store_id: uuid.UUID
) -> None:
    """Forget the store's limits once the plan change is committed (not before: a reader in
    between would cache the old plan again)."""
    cache.invalidate(store_id)
    event.listen(
        session.sync_session, "after_commit", lambda _s: cache.invalidate(store_id), once=True
    )
