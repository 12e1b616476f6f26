"""Delivering ledger rows to each store's tenant copy, exactly once per ledger row.

The outbox row is written in the same control-plane transaction as the ledger row. The
worker copies it into the tenant's ``credit_spending_log`` (keyed by the ledger id, so a
second delivery inserts nothing) and moves ``credit_balance_cache`` forward only to a newer
ledger sequence; then it marks the outbox row delivered. A worker killed anywhere in between
leaves the row undelivered, and the next run repeats an idempotent write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from storefleet.background import BackgroundLoop
from storefleet.control.credits.models import CreditBalance, CreditOutbox, CreditTransaction
from storefleet.control.credits.tenant_copy import repair, write_to_tenant
from storefleet.control.placements.plane import Stores, store_scope

log = logging.getLogger(__name__)

DeliveryFault = Callable[[str, uuid.UUID], Awaitable[None] | None]


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: dict[uuid.UUID, str] = field(default_factory=dict)


async def deliver_pending(
    runtime: Stores,
    *,
    batch: int = 200,
    fault: DeliveryFault | None = None,
    store_timeout: float | None = None,
    concurrency: int = 4,
) -> DeliveryReport:
    """One pass: each store with undelivered rows, in its own short control transaction.

    Stores are delivered side by side (``concurrency`` at a time), each within
    ``store_timeout`` seconds (default: the tenant statement timeout plus the connect
    timeout), so a store whose database hangs delays only itself: its rows stay
    undelivered with the error recorded, and the next pass tries again.
    """
    report = DeliveryReport()
    settings = runtime.settings
    timeout = store_timeout or (
        settings.tenant_statement_timeout_seconds + settings.owner_connect_timeout_seconds
    )
    async with runtime.control_sessions() as control:
        store_ids = list(
            (
                await control.execute(
                    select(CreditOutbox.store_id)
                    .where(CreditOutbox.delivered_at.is_(None))
                    .group_by(CreditOutbox.store_id)
                    .order_by(func.min(CreditOutbox.id))
                    .limit(batch)
                )
            ).scalars()
        )
    slots = asyncio.Semaphore(max(1, concurrency))

    async def one(store_id: uuid.UUID) -> None:
        async with slots:
            try:
                async with asyncio.timeout(timeout):
                    report.delivered += await _deliver_store(runtime, store_id, batch, fault)
            except Exception as exc:
                if isinstance(exc, TimeoutError):
                    message = f"delivery took longer than {timeout:g} s"
                else:
                    message = f"{type(exc).__name__}: {exc}"[:1000]
                report.failed[store_id] = message
                await _record_failure(runtime, store_id, message)

    outcomes = await asyncio.gather(*(one(s) for s in store_ids), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome  # a crash (not a store's failure): nothing more is marked
    return report


async def _deliver_store(
    runtime: Stores, store_id: uuid.UUID, batch: int, fault: DeliveryFault | None
) -> int:
    """The store's pending rows into its tenant copy, then marked delivered (one store)."""
    async with runtime.control_sessions() as control, control.begin():
        pending = (
            await control.execute(
                select(CreditOutbox.id, CreditTransaction)
                .join(CreditTransaction, CreditTransaction.id == CreditOutbox.transaction_id)
                .where(CreditOutbox.store_id == store_id, CreditOutbox.delivered_at.is_(None))
                .order_by(CreditOutbox.id)
                .limit(batch)
                .with_for_update(of=CreditOutbox, skip_locked=True)
            )
        ).all()
        if not pending:
            return 0
        scope = await store_scope(runtime, store_id)
        async with scope.write() as tenant:
            await write_to_tenant(tenant, store_id, [tx for _, tx in pending])
            await _fire(fault, "tenant_written", store_id)
        await _fire(fault, "before_mark", store_id)
        await control.execute(
            update(CreditOutbox)
            .where(CreditOutbox.id.in_([outbox_id for outbox_id, _ in pending]))
            .values(delivered_at=datetime.now(UTC), last_error=None)
        )
        return len(pending)


async def _record_failure(runtime: Stores, store_id: uuid.UUID, message: str) -> None:
    async with runtime.control_sessions() as control, control.begin():
        await control.execute(
            update(CreditOutbox)
            .where(CreditOutbox.store_id == store_id, CreditOutbox.delivered_at.is_(None))
            .values(attempts=CreditOutbox.attempts + 1, last_error=message)
        )


async def _fire(fault: DeliveryFault | None, phase: str, store_id: uuid.UUID) -> None:
    if fault is not None:
        result = fault(phase, store_id)
        if asyncio.iscoroutine(result):
            await result


async def deliver_all(runtime: Stores, *, batch: int = 200) -> DeliveryReport:
    """Deliver until nothing is left that can be delivered now."""
    total = DeliveryReport()
    while True:
        report = await deliver_pending(runtime, batch=batch)
        total.delivered += report.delivered
        total.failed.update(report.failed)
        if report.delivered == 0 or report.failed:
            return total


@dataclass
class ReconcileReport:
    stores: int = 0
    rows_added: int = 0
    caches_fixed: int = 0


async def reconcile(runtime: Stores, store_ids: list[uuid.UUID] | None = None) -> ReconcileReport:
    """Make every tenant log and cache equal the ledger (repairs any drift)."""
    report = ReconcileReport()
    async with runtime.control_sessions() as control:
        stmt = select(CreditBalance)
        if store_ids:
            stmt = stmt.where(CreditBalance.store_id.in_(store_ids))
        balances = list((await control.execute(stmt)).scalars())
    for balance in balances:
        async with runtime.control_sessions() as control:
            ledger = list(
                (
                    await control.execute(
                        select(CreditTransaction)
                        .where(CreditTransaction.store_id == balance.store_id)
                        .order_by(CreditTransaction.seq)
                    )
                ).scalars()
            )
        scope = await store_scope(runtime, balance.store_id)
        async with scope.write() as tenant:
            repaired = await repair(tenant, balance.store_id, ledger, balance.balance)
        report.rows_added += repaired.rows_added
        report.caches_fixed += int(repaired.cache_fixed)
        report.stores += 1
    async with runtime.control_sessions() as control, control.begin():
        stmt2 = update(CreditOutbox).where(CreditOutbox.delivered_at.is_(None))
        if store_ids:
            stmt2 = stmt2.where(CreditOutbox.store_id.in_(store_ids))
        await control.execute(stmt2.values(delivered_at=datetime.now(UTC)))
    return report


class OutboxWorker(BackgroundLoop):
    """Background delivery loop for one process; wakes on NOTIFY-less polling."""

    name = "credit-outbox"

    def __init__(self, runtime: Stores, *, interval: float = 0.5) -> None:
        super().__init__()
        self.runtime = runtime
        self.interval = interval
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while not self.stopping:
            try:
                report = await deliver_pending(self.runtime)
                if report.failed:
                    log.warning("credit delivery failed for %d stores", len(report.failed))
                if report.delivered:
                    continue
            except Exception:
                log.exception("credit outbox delivery failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
