"""A bounded set of connection pools for tenant databases.

Pool and schema stores share one engine per database, so their number costs nothing.
Database stores each need an engine; these are kept in an LRU of at most ``max_engines``,
each with at most ``pool_size`` connections, so open connections never exceed
``max_engines * pool_size`` however many stores exist. Idle engines are disposed.

Defaults (16 x 4 = 64) fit a default PostgreSQL ``max_connections`` of 100 with room for
the control plane. Raise them only together with the server's ``max_connections`` (or put
PgBouncer in front), keeping the cap below it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

NO_SERVER_SIDE_PREPARE = {"prepare_threshold": None}


def tenant_engine(url: URL, *, pool_size: int, max_overflow: int = 0) -> AsyncEngine:
    """An engine safe behind PgBouncer/Supavisor in transaction mode (no prepared statements)."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=False,
        pool_recycle=900,
        pool_timeout=30,
        connect_args=dict(NO_SERVER_SIDE_PREPARE),
    )


@dataclass
class _Entry:
    engine: AsyncEngine
    last_used: float


class EngineRegistry:
    def __init__(
        self, *, max_engines: int = 16, pool_size: int = 4, idle_seconds: float = 300
    ) -> None:
        if max_engines < 1 or pool_size < 1:
            raise ValueError("max_engines and pool_size must be positive")
        self.max_engines = max_engines
        self.pool_size = pool_size
        self.idle_seconds = idle_seconds
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._disposing: set[asyncio.Task[None]] = set()

    @property
    def connection_cap(self) -> int:
        return self.max_engines * self.pool_size

    def get(self, key: str, url: URL) -> AsyncEngine:
        entry = self._entries.get(key)
        now = time.monotonic()
        if entry is not None:
            entry.last_used = now
            self._entries.move_to_end(key)
            return entry.engine
        engine = tenant_engine(url, pool_size=self.pool_size)
        self._entries[key] = _Entry(engine, now)
        while len(self._entries) > self.max_engines:
            _, evicted = self._entries.popitem(last=False)
            self._dispose_later(evicted.engine)
        return engine

    def forget(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._dispose_later(entry.engine)

    def _dispose_later(self, engine: AsyncEngine) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            engine.sync_engine.dispose(close=True)
            return
        task = loop.create_task(engine.dispose())
        self._disposing.add(task)
        task.add_done_callback(self._disposing.discard)

    async def dispose_idle(self) -> int:
        cutoff = time.monotonic() - self.idle_seconds
        stale = [k for k, e in self._entries.items() if e.last_used < cutoff]
        for key in stale:
            entry = self._entries.pop(key)
            await entry.engine.dispose()
        return len(stale)

    def open_connections(self) -> int:
        total = 0
        for entry in self._entries.values():
            pool = entry.engine.sync_engine.pool
            if isinstance(pool, QueuePool):
                total += pool.checkedin() + pool.checkedout()
        return total

    def __len__(self) -> int:
        return len(self._entries)

    async def aclose(self) -> None:
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            await entry.engine.dispose()
        if self._disposing:
            await asyncio.gather(*self._disposing, return_exceptions=True)
