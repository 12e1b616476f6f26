"""Telling every process that a store's public storefront answers changed.

A tenant write transaction that wrote a table public answers are read from (the runtime
names them: products, prices, price rules, categories, images, the store profile…) is
announced after its COMMIT: this process's subscribers (the storefront cache) drop the
store's entries at once, and ``pg_notify('storefleet_storefront', '<store id>')`` on the
control database tells every other process (``RoutingListener`` LISTENs to it). A statement
tenancy could not classify (``tenancy.writes.UNKNOWN``) is announced like a catalog write.

Stock is the exception, because checkouts write it all the time: a transaction whose only
public table is a stock table (inventory levels) is announced at most once per store per
``stock_lag`` seconds. The first is announced at once; later ones within the window are
folded into one announcement at the window's end, so stock state lags by at most
``stock_lag`` (plus the notification's delivery), and a busy store costs one notification
a second, not one per order.

A notification that cannot be sent (the control database is down) is logged; the other
processes' entries then live until their ``storefront_cache_ttl_seconds`` backstop, or until
their listener reconnects (which drops everything).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storefleet.tenancy.writes import UNKNOWN

log = logging.getLogger(__name__)

CHANNEL = "storefleet_storefront"
MAX_TRACKED_STORES = 10_000
_NOTIFY = text("SELECT pg_catalog.pg_notify(:channel, :payload)")

Subscriber = Callable[[uuid.UUID | None], None]


class StorefrontChanges:
    """``Tenancy.after_commit`` callback: announce writes that change public answers."""

    def __init__(
        self,
        control_engine: AsyncEngine,
        *,
        public_tables: frozenset[str],
        stock_tables: frozenset[str],
        stock_lag: float = 1.0,
    ) -> None:
        self.control_engine = control_engine
        self.catalog_tables = public_tables - stock_tables
        self.stock_tables = stock_tables
        self.stock_lag = stock_lag
        self.subscribers: list[Subscriber] = []
        self._last_stock: dict[uuid.UUID, float] = {}
        self._pending: dict[uuid.UUID, asyncio.Task[None]] = {}

    def drop(self, store_id: uuid.UUID | None) -> None:
        """Tell this process's subscribers (``None``: every store may have changed)."""
        for subscriber in self.subscribers:
            subscriber(store_id)

    async def committed(self, store_id: uuid.UUID, tables: frozenset[str]) -> None:
        if UNKNOWN in tables or not self.catalog_tables.isdisjoint(tables):
            await self.announce(store_id)
        elif not self.stock_tables.isdisjoint(tables):
            await self._stock_changed(store_id)

    async def announce(self, store_id: uuid.UUID) -> None:
        """Drop the store's answers here, then in every other process."""
        self.drop(store_id)
        try:
            async with self.control_engine.connect() as conn:
                await conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": str(store_id)})
                await conn.commit()
        except Exception as exc:
            log.warning("storefront change of %s not announced: %s", store_id, exc)

    async def _stock_changed(self, store_id: uuid.UUID) -> None:
        if store_id in self._pending:
            return  # an announcement at the end of the window covers this write too
        now = time.monotonic()
        last = self._last_stock.get(store_id)
        if last is None or now - last >= self.stock_lag:
            self._remember(store_id, now)
            await self.announce(store_id)
            return
        self._pending[store_id] = asyncio.create_task(
            self._announce_later(store_id, last + self.stock_lag - now)
        )

    async def _announce_later(self, store_id: uuid.UUID, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            self._remember(store_id, time.monotonic())
        finally:
            self._pending.pop(store_id, None)
        await self.announce(store_id)

    def _remember(self, store_id: uuid.UUID, at: float) -> None:
        if len(self._last_stock) >= MAX_TRACKED_STORES:
            cutoff = at - self.stock_lag
            self._last_stock = {s: t for s, t in self._last_stock.items() if t > cutoff}
        self._last_stock[store_id] = at

    async def aclose(self) -> None:
        """Announce what is still waiting for its window (a CLI run ends before it)."""
        pending = list(self._pending)
        for task in list(self._pending.values()):
            task.cancel()
        self._pending.clear()
        for store_id in pending:
            await self.announce(store_id)
