"""Which store a request is for: ``Host``, ``X-Store-Id`` and the token's ``store_id``.

Each signal that is present must name the same store; a disagreement is a 400, never a
guess. A ``Host`` that is not a verified store hostname (a pending claim, the platform's own
hosts: ``127.0.0.1:8000``, ``localhost``, ``testserver``) gives no signal at all. Hostname
lookups are cached in process (bounded LRU, negative answers included) and cleared by the
routing listener on every ``store_hostnames`` change, or at once by the process that made
the change.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.control.hostnames.models import VERIFIED, StoreHostname
from storefleet.control.hostnames.service import normalize_hostname
from storefleet.errors import BadRequest, DomainError, Locked, NotFound
from storefleet.tenancy.placement import StorePlacement
from storefleet.tenancy.session import Tenancy

STORE_HEADER = "x-store-id"
STORE_NOT_FOUND = "Store not found"
DEFAULT_MAX_HOSTS = 10_000
NOT_CACHED = object()  # ``StoreResolver.cached_store_for_host``: ask ``store_for_host``

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Signal:
    source: str
    store_id: uuid.UUID


def store_id_signal(raw: str | None, source: str) -> Signal | None:
    """A header or claim that must be a UUID when present."""
    if raw is None:
        return None
    try:
        return Signal(source, uuid.UUID(raw.strip()))
    except ValueError:
        raise BadRequest(f"{source} is not a valid store id", field=source) from None


def agreed_store(signals: list[Signal]) -> uuid.UUID:
    """The one store every signal names; a conflict is reported, never resolved by guessing."""
    if not signals:
        raise NotFound(STORE_NOT_FOUND)
    first = signals[0]
    for other in signals[1:]:
        if other.store_id != first.store_id:
            raise BadRequest(
                f"{first.source} and {other.source} name different stores",
                conflict=[first.source, other.source],
            )
    return first.store_id


def check_routable(placement: StorePlacement) -> StorePlacement:
    if placement.store_status == "deleted":
        raise NotFound(STORE_NOT_FOUND)
    if placement.store_status == "suspended":
        raise Locked("This store is suspended")
    return placement


def remember(cache: OrderedDict[K, V], key: K, value: V, limit: int) -> None:
    """Put ``key`` in a bounded LRU, evicting the least recently used entries."""
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)


class StoreResolver:
    """Hostname → store and store → primary hostname, cached; placements via ``Tenancy``."""

    def __init__(
        self,
        control_sessions: async_sessionmaker[AsyncSession],
        tenancy: Tenancy,
        *,
        max_hosts: int = DEFAULT_MAX_HOSTS,
    ) -> None:
        self.control_sessions = control_sessions
        self.tenancy = tenancy
        self.max_hosts = max_hosts
        self._hosts: OrderedDict[str, uuid.UUID | None] = OrderedDict()
        self._primary: OrderedDict[uuid.UUID, str | None] = OrderedDict()
        # Bumped on every invalidation: a lookup that started before it does not cache its
        # (possibly stale) answer.
        self._generation = 0

    def invalidate_hostnames(self) -> None:
        self._generation += 1
        self._hosts.clear()
        self._primary.clear()

    def invalidate(self, store_id: uuid.UUID | None = None) -> None:
        """Forget hostnames and the store's placement (every store's when ``None``)."""
        self.invalidate_hostnames()
        self.tenancy.invalidate(store_id)

    def cached_store_for_host(self, host: str | None) -> uuid.UUID | object | None:
        """``store_for_host`` from the cache alone (for middlewares that must not await), or
        ``NOT_CACHED``."""
        if not host:
            return None
        key = host.strip().lower()
        found = self._hosts.get(key, NOT_CACHED)
        if found is not NOT_CACHED:
            self._hosts.move_to_end(key)
        return found

    async def store_for_host(self, host: str | None) -> uuid.UUID | None:
        """The store a ``Host`` header routes to, or None when it is not a store hostname."""
        if not host:
            return None
        key = host.strip().lower()
        if key in self._hosts:
            self._hosts.move_to_end(key)
            return self._hosts[key]
        generation = self._generation
        try:
            hostname: str | None = normalize_hostname(key)
        except DomainError:
            hostname = None
        found = None
        if hostname is not None:
            async with self.control_sessions() as s:
                found = await s.scalar(
                    select(StoreHostname.store_id).where(
                        StoreHostname.hostname == hostname, StoreHostname.status == VERIFIED
                    )
                )
        if generation == self._generation:
            remember(self._hosts, key, found, self.max_hosts)
        return found

    async def primary_hostname(self, store_id: uuid.UUID) -> str | None:
        if store_id in self._primary:
            return self._primary[store_id]
        generation = self._generation
        async with self.control_sessions() as s:
            found = await s.scalar(
                select(StoreHostname.hostname).where(
                    StoreHostname.store_id == store_id,
                    StoreHostname.is_primary,
                    StoreHostname.status == VERIFIED,
                )
            )
        if generation == self._generation:
            remember(self._primary, store_id, found, self.max_hosts)
        return found

    async def resolve(
        self,
        *,
        host: str | None = None,
        store_header: str | None = None,
        token_store_id: str | None = None,
    ) -> StorePlacement:
        """The placement of the one store the signals agree on; 400, 404 or 423 otherwise."""
        signals: list[Signal] = []
        from_host = await self.store_for_host(host)
        if from_host is not None:
            signals.append(Signal("Host", from_host))
        for raw, source in ((store_header, "X-Store-Id"), (token_store_id, "token store_id")):
            signal = store_id_signal(raw, source)
            if signal is not None:
                signals.append(signal)
        store_id = agreed_store(signals)
        try:
            placement = await self.tenancy.placement(store_id)
        except NotFound:
            raise NotFound(STORE_NOT_FOUND) from None
        return check_routable(placement)
