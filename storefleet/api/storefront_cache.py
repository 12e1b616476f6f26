"""Public storefront answers cached in process, dropped by every write that could change them.

What is cached: ``200`` answers to anonymous ``GET`` requests (no ``Authorization``, no
``Cookie``) of the public catalog reads (``CACHED_ROUTES``), as a copy of status, headers
and body. The key is (store, path, query): the store resolved exactly as the routes resolve
it (``Host`` / ``X-Store-Id`` through ``StoreResolver``, which is cached too), the query as
its parsed pairs in a stable order (so ``currency``, ``country``, ``limit``… are in it). An
unpublished store, a request the resolver refuses, anything else: passed on untouched.

The layer sits inside the rate limit and metering (see ``api.app``): a cached answer is
limited and counted like any other, under its route template.

Never stale: ``runtime.storefront_changes`` calls ``drop`` for the store after every write
transaction to a public table commits (at once in this process, then in every process
through the listener; stock at most ``storefront_stock_lag_seconds`` late), on every routing
notification for the store, and drops everything when the listener (re)connects. A lookup
that was in flight when its store was dropped does not keep its answer (a generation per
store). ``storefront_cache_ttl_seconds`` bounds an entry's life even if a notification was
lost. Bounded: at most ``storefront_cache_max_entries`` entries (LRU) per process.
"""

from __future__ import annotations

import re
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from operator import itemgetter
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefleet.control.hostnames.resolver import STORE_HEADER
from storefleet.errors import DomainError

if TYPE_CHECKING:
    from storefleet.runtime import Runtime

PREFIX = "/api/storefront"
CACHED_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", PREFIX + t) + "$"), PREFIX + t)
    for t in (
        "/store",
        "/products",
        "/products/{slug}",
        "/categories",
        "/categories/{slug}/products",
        "/search",
    )
)
_UNCACHEABLE_HEADERS = frozenset(
    {b"authorization", b"cookie", b"content-length", b"transfer-encoding"}
)
MAX_GENERATIONS = 100_000

Key = tuple[uuid.UUID, str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class CachedAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    expires: float


class StorefrontCache:
    """A bounded LRU of answers, with a per-store index so a store's entries drop at once."""

    def __init__(self, *, max_entries: int, ttl: float, max_body_bytes: int) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.max_body_bytes = max_body_bytes
        self._entries: OrderedDict[Key, CachedAnswer] = OrderedDict()
        self._by_store: dict[uuid.UUID, set[Key]] = {}
        self._epoch = 0
        self._generations: dict[uuid.UUID, int] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def generation(self, store_id: uuid.UUID) -> tuple[int, int]:
        """Taken before a lookup; ``put`` keeps the answer only if nothing dropped since."""
        return self._epoch, self._generations.get(store_id, 0)

    def get(self, key: Key) -> CachedAnswer | None:
        found = self._entries.get(key)
        if found is None or found.expires <= time.monotonic():
            if found is not None:
                self._forget(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return found

    def put(
        self,
        key: Key,
        generation: tuple[int, int],
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> None:
        if generation != self.generation(key[0]) or len(body) > self.max_body_bytes:
            return
        self._entries[key] = CachedAnswer(status, headers, body, time.monotonic() + self.ttl)
        self._entries.move_to_end(key)
        self._by_store.setdefault(key[0], set()).add(key)
        while len(self._entries) > self.max_entries:
            self._forget(next(iter(self._entries)))

    def _forget(self, key: Key) -> None:
        self._entries.pop(key, None)
        keys = self._by_store.get(key[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_store[key[0]]

    def drop(self, store_id: uuid.UUID | None) -> None:
        """Forget the store's answers (every store's when ``None``)."""
        if store_id is None or len(self._generations) >= MAX_GENERATIONS:
            self._epoch += 1
            self._generations.clear()
            self._entries.clear()
            self._by_store.clear()
            return
        self._generations[store_id] = self._generations.get(store_id, 0) + 1
        for key in self._by_store.pop(store_id, ()):
            self._entries.pop(key, None)


def cached_route(path: str) -> str | None:
    """The route template of a cacheable storefront path."""
    if not path.startswith(PREFIX):
        return None
    for pattern, template in CACHED_ROUTES:
        if pattern.match(path):
            return template
    return None


def query_key(raw: bytes) -> tuple[tuple[str, str], ...]:
    """The query's pairs as the app parses them, by name (repeated names keep their order)."""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    return tuple(sorted(pairs, key=itemgetter(0)))


class _Route:
    def __init__(self, path: str) -> None:
        self.path = path


_ROUTES = {template: _Route(template) for _, template in CACHED_ROUTES}


class StorefrontCaching:
    """Answer cacheable storefront reads from ``app.state.storefront_cache``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        template = (
            cached_route(scope["path"])
            if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path")
            else None
        )
        state = getattr(scope.get("app"), "state", None)
        cache: StorefrontCache | None = getattr(state, "storefront_cache", None)
        if template is None or cache is None:
            await self.app(scope, receive, send)
            return
        host = store_header = None
        for name, value in scope["headers"]:
            if name in _UNCACHEABLE_HEADERS:
                await self.app(scope, receive, send)
                return
            if name == b"host":
                host = value.decode("latin-1")
            elif name == STORE_HEADER.encode():
                store_header = value.decode("latin-1")
        runtime: Runtime = state.runtime  # type: ignore[union-attr]
        try:
            placement = await runtime.resolver.resolve(host=host, store_header=store_header)
        except DomainError:
            placement = None  # the route answers it, with its own error
        if placement is None or not placement.published:
            await self.app(scope, receive, send)
            return
        key: Key = (placement.store_id, scope["path"], query_key(scope["query_string"]))
        found = cache.get(key)
        if found is not None:
            scope["route"] = _ROUTES[template]  # what metering reads
            await send(
                {"type": "http.response.start", "status": found.status, "headers": found.headers}
            )
            await send({"type": "http.response.body", "body": found.body})
            return
        generation = cache.generation(placement.store_id)
        copy = _Copy(send)
        await self.app(scope, receive, copy)
        if copy.complete and copy.status == 200:
            cache.put(key, generation, copy.status, copy.headers, b"".join(copy.body))


class _Copy:
    """A ``send`` that passes every message on and keeps a copy of the answer."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False

    async def __call__(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            self.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
        elif kind == "http.response.body":
            self.body.append(bytes(message.get("body", b"")))
            self.complete = not message.get("more_body", False)
        await self._send(message)


def install(app: Any, runtime: Runtime) -> StorefrontCache | None:
    """At start-up: the process's cache, subscribed to the store change announcements."""
    settings = runtime.settings
    if not settings.storefront_cache_enabled:
        return None
    cache = StorefrontCache(
        max_entries=settings.storefront_cache_max_entries,
        ttl=settings.storefront_cache_ttl_seconds,
        max_body_bytes=settings.storefront_cache_max_body_bytes,
    )
    runtime.storefront_changes.subscribers.append(cache.drop)
    app.state.storefront_cache = cache
    return cache
