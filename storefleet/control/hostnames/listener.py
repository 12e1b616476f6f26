"""Cross-process cache invalidation: ``LISTEN`` on the control database.

``storefleet_routing``: triggers on ``stores``, ``store_databases`` and ``store_hostnames``
send ``"<table>:<store uuid>"`` (migration c0002). Every process listens and drops what it
cached about that store, so a hostname added, a store suspended or moved on one server takes
effect on all of them within moments. Its storefront answers are dropped too (a move, a
purge or a new hostname changes them).

``storefleet_storefront`` (``storefront_changes``): ``"<store uuid>"`` after a write to
the store's public catalog; its storefront answers are dropped.

After a reconnect everything is dropped: notifications sent while the connection was down
are lost.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from contextlib import suppress

import psycopg
from sqlalchemy.engine import URL

from storefleet.background import BackgroundLoop
from storefleet.control.hostnames.resolver import StoreResolver
from storefleet.control.hostnames.storefront_changes import CHANNEL as STOREFRONT_CHANNEL
from storefleet.db.urls import libpq_conninfo

log = logging.getLogger(__name__)

CHANNEL = "storefleet_routing"
HEARTBEAT_SECONDS = 30.0
MIN_BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 30.0


class RoutingListener(BackgroundLoop):
    """A background task holding one autocommit connection that LISTENs for routing changes."""

    name = "storefleet-routing-listener"

    def __init__(
        self,
        control_url: URL,
        resolver: StoreResolver,
        *,
        storefront: Callable[[uuid.UUID | None], None] | None = None,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
    ) -> None:
        super().__init__()
        self.conninfo = libpq_conninfo(control_url)
        self.resolver = resolver
        self.storefront = storefront or _ignore
        self.heartbeat_seconds = heartbeat_seconds
        self.listening = asyncio.Event()
        self.connections = 0

    async def open(self, *, wait: float = 5.0) -> None:
        """Start listening; waits (at most ``wait`` s) for the first LISTEN to be in place."""
        self.start()
        with suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), wait)

    def handle(self, payload: str, channel: str = CHANNEL) -> None:
        """Drop what this process cached about the store named in ``payload``."""
        if channel == STOREFRONT_CHANNEL:
            self.storefront(_store_id(payload))
            return
        table, _, raw_id = payload.partition(":")
        store_id = _store_id(raw_id)
        if table == "store_hostnames" or store_id is None:
            self.resolver.invalidate_hostnames()
        self.resolver.tenancy.invalidate(store_id)
        self.storefront(store_id)

    async def run(self) -> None:
        backoff = MIN_BACKOFF_SECONDS
        while not self.stopping:
            try:
                await self._listen()
                backoff = MIN_BACKOFF_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: log, wait, reconnect
                log.warning("routing listener lost its connection: %s", type(exc).__name__)
            self.listening.clear()
            if self.stopping:
                break
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True, application_name="storefleet-routing"
        ) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            await conn.execute(f"LISTEN {STOREFRONT_CHANNEL}")
            self.connections += 1
            # Anything may have changed while we were not listening.
            self.resolver.invalidate()
            self.storefront(None)
            self.listening.set()
            while not self.stopping:
                async for note in conn.notifies(timeout=self.heartbeat_seconds):
                    self.handle(note.payload, note.channel)
                # A quiet period: prove the connection is still alive (raises when it is not).
                await conn.execute("SELECT 1")


def _store_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _ignore(store_id: uuid.UUID | None) -> None:
    return None
