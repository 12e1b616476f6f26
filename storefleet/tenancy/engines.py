"""A bounded set of connection pools for tenant databases.

Pool and schema stores share one engine per database (the *shared* engines): their number
costs nothing, and a shared engine is never evicted or swept — every such store depends on
it. It is sized apart (``shared_pool_size`` plus ``shared_max_overflow`` under bursts), and
every tenant transaction carries a ``statement_timeout``, so one store's slow requests hold
its connections for at most that long and cannot starve the other stores of the pool.

Database stores each need an engine; these are kept in an LRU of at most ``max_engines``,
each with at most ``pool_size`` connections, so open connections stay within
``shared + max_engines * pool_size`` however many stores exist (an engine evicted while in
use closes its connections as soon as their transactions end). Engines unused for
``idle_seconds`` are disposed by a sweep that runs while the registry holds any.

An engine is cached under its slot (server and database) *and* its URL: when a store's
location changes under the same slot (a move between two owner databases with the same
name, a re-pinned address), the next ``get`` replaces the engine instead of reusing a pool
that still points at the old server.

Defaults (8 + 8 shared, 12 x 4) fit a default PostgreSQL ``max_connections`` of 100 with
room for the control plane. Raise them only together with the server's
``max_connections`` (or put PgBouncer in front), keeping the cap below it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from storefleet.db.urls import engine_url_and_args
from storefleet.tenancy.writes import track_writes

NO_SERVER_SIDE_PREPARE = {"prepare_threshold": None}
# An evicted engine waits this long for its checked-out connections before closing anyway.
DRAIN_SECONDS = 60.0
DRAIN_POLL_SECONDS = 0.05


def _checked_out(engine: AsyncEngine) -> int:
    pool = engine.sync_engine.pool
    return pool.checkedout() if isinstance(pool, QueuePool) else 0


def tenant_engine(url: URL, *, pool_size: int, max_overflow: int = 0) -> AsyncEngine:
    """An engine safe behind PgBouncer/Supavisor in transaction mode (no prepared statements)."""
    engine_url, connect_args = engine_url_and_args(url)
    engine = create_async_engine(
        engine_url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=900,
        pool_timeout=30,
        connect_args={**NO_SERVER_SIDE_PREPARE, **connect_args},
    )
    track_writes(engine)
    return engine


@dataclass
class _Entry:
    engine: AsyncEngine
    url: URL
    last_used: float


class EngineRegistry:
    def __init__(
        self,
        *,
        max_engines: int = 12,
        pool_size: int = 4,
        idle_seconds: float = 300,
        shared_pool_size: int = 8,
        shared_max_overflow: int = 8,
    ) -> None:
        if max_engines < 1 or pool_size < 1 or shared_pool_size < 1:
            raise ValueError("max_engines and the pool sizes must be positive")
        self.max_engines = max_engines
        self.pool_size = pool_size
        self.idle_seconds = idle_seconds
        self.shared_pool_size = shared_pool_size
        self.shared_max_overflow = shared_max_overflow
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._shared: dict[str, _Entry] = {}
        self._disposing: set[asyncio.Task[None]] = set()
        self._draining: set[AsyncEngine] = set()
        self._closing = False
        self._sweeper: asyncio.Task[None] | None = None

    def connection_cap(self, shared_engines: int = 1) -> int:
        """Most connections the registry opens, with ``shared_engines`` shared engines."""
        shared = shared_engines * (self.shared_pool_size + self.shared_max_overflow)
        return shared + self.max_engines * self.pool_size

    def get(self, key: str, url: URL, *, shared: bool = False) -> AsyncEngine:
        """The engine for slot ``key`` at ``url``; ``shared`` for pool and schema stores."""
        if shared:
            return self._get_shared(key, url)
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None and entry.url == url:
            entry.last_used = now
            self._entries.move_to_end(key)
            return entry.engine
        if entry is not None:
            self.forget(key)  # the slot now lives elsewhere: never reuse the old pool
        engine = tenant_engine(url, pool_size=self.pool_size)
        self._entries[key] = _Entry(engine, url, now)
        self._ensure_sweeper()
        while len(self._entries) > self.max_engines:
            _, evicted = self._entries.popitem(last=False)
            self._dispose_later(evicted.engine)
        return engine

    def _get_shared(self, key: str, url: URL) -> AsyncEngine:
        entry = self._shared.get(key)
        if entry is not None and entry.url == url:
            return entry.engine
        if entry is not None:
            self._dispose_later(self._shared.pop(key).engine)
        engine = tenant_engine(
            url, pool_size=self.shared_pool_size, max_overflow=self.shared_max_overflow
        )
        self._shared[key] = _Entry(engine, url, time.monotonic())
        return engine

    def forget(self, key: str) -> None:
        for entries in (self._entries, self._shared):
            entry = entries.pop(key, None)
            if entry is not None:
                self._dispose_later(entry.engine)

    def _dispose_later(self, engine: AsyncEngine) -> None:
        """Close an evicted engine's connections once its transactions have ended.

        Disposing at once would close only idle connections; one checked out then would go
        back to a pool nobody holds and stay open until the garbage collector found it.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            engine.sync_engine.dispose(close=True)
            return
        self._draining.add(engine)
        task = loop.create_task(self._drain_then_dispose(engine))
        self._disposing.add(task)
        task.add_done_callback(self._disposing.discard)

    async def _drain_then_dispose(self, engine: AsyncEngine) -> None:
        try:
            deadline = time.monotonic() + DRAIN_SECONDS
            # Polled: the pool has no awaitable "all returned", and this lasts one transaction.
            while _checked_out(engine) and time.monotonic() < deadline and not self._closing:  # noqa: ASYNC110
                await asyncio.sleep(DRAIN_POLL_SECONDS)
            await engine.dispose()
        finally:
            self._draining.discard(engine)

    async def settle(self) -> None:
        """Wait until every evicted engine has closed its connections."""
        while self._disposing:
            await asyncio.gather(*list(self._disposing), return_exceptions=True)

    def _ensure_sweeper(self) -> None:
        """Start the idle sweep with the first engine, on whatever loop uses the registry."""
        if self._sweeper is not None and not self._sweeper.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._sweeper = loop.create_task(self._sweep(), name="storefleet-engine-sweeper")

    async def _sweep(self) -> None:
        interval = max(0.05, min(self.idle_seconds / 4, 60.0))
        while self._entries:
            await asyncio.sleep(interval)
            await self.dispose_idle()

    async def dispose_idle(self) -> int:
        """Evict engines unused for ``idle_seconds``; their connections close once free."""
        cutoff = time.monotonic() - self.idle_seconds
        stale = [k for k, e in self._entries.items() if e.last_used < cutoff]
        for key in stale:
            self._dispose_later(self._entries.pop(key).engine)
        return len(stale)

    def open_connections(self) -> int:
        """Connections held by the registry's engines, evicted ones still draining included."""
        total = 0
        live = [*self._entries.values(), *self._shared.values()]
        for engine in [e.engine for e in live] + list(self._draining):
            pool = engine.sync_engine.pool
            if isinstance(pool, QueuePool):
                total += pool.checkedin() + pool.checkedout()
        return total

    def engine_urls(self) -> list[URL]:
        """Where the live engines connect (shared ones included)."""
        return [e.url for e in (*self._shared.values(), *self._entries.values())]

    def shared_engines(self) -> int:
        return len(self._shared)

    def __len__(self) -> int:
        """Engines of database stores (the LRU); shared engines are not counted."""
        return len(self._entries)

    async def aclose(self) -> None:
        """Close every connection now; the registry can be used again afterwards."""
        self._closing = True
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await sweeper
        entries = [*self._entries.values(), *self._shared.values()]
        self._entries.clear()
        self._shared.clear()
        for entry in entries:
            await entry.engine.dispose()
        await self.settle()
        self._closing = False
