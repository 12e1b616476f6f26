"""Per-store API rate from the store's plan (``max_api_calls_per_minute``): 429 beyond it.

A pure ASGI middleware in front of ``/api/stores/{store_id}/…`` and ``/api/storefront/…``.
The store comes from the path, or for storefront requests from ``Host`` / ``X-Store-Id`` /
the token, like the resolver does. Counting is an in-process sliding window (two fixed
windows, the previous one weighted by how much of it still overlaps), O(1) per store.

A request is counted when it starts (so a burst cannot slip past in parallel) and handed
back when it ends in 400/401/403/404: a caller who may not use the store, or names a store
that does not resolve, never spends that store's budget.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefleet.api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from storefleet.control.billing.limits import PlanLimitsCache
from storefleet.security.tokens import TokenError
from storefleet.tenancy.resolver import STORE_HEADER

if TYPE_CHECKING:
    from storefleet.runtime import Runtime

STORE_PATH = re.compile(r"^/api/stores/([0-9a-fA-F-]{32,36})(?:/|$)")
STOREFRONT_PREFIX = "/api/storefront/"
SCOPE_STORE_KEY = "storefleet.store_id"
REFUNDED_STATUSES = frozenset({400, 401, 403, 404})
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
        self._state: dict[uuid.UUID, list[int]] = {}

    def _slot(self, key: uuid.UUID, index: int) -> list[int]:
        slot = self._state.get(key)
        if slot is None:
            if len(self._state) >= self.max_keys:
                self._sweep(index)
            slot = self._state[key] = [index, 0, 0]
        elif slot[0] != index:
            slot[1] = slot[2] if slot[0] == index - 1 else 0
            slot[2] = 0
            slot[0] = index
        return slot

    def _sweep(self, index: int) -> None:
        for key in [k for k, s in self._state.items() if s[0] < index - 1]:
            del self._state[key]

    def acquire(self, key: uuid.UUID, limit: int) -> int | None:
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

    def release(self, key: uuid.UUID) -> None:
        """Hand back a request counted by ``acquire`` (if its window is still current)."""
        slot = self._state.get(key)
        if slot is not None and slot[0] == int(self.clock() // self.period) and slot[2] > 0:
            slot[2] -= 1


def _uuid(raw: str | None) -> uuid.UUID | None:
    if not raw:
        return None
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def store_of_request(scope: Scope, runtime: Runtime) -> uuid.UUID | None:
    """The store a request is about, without authenticating it (routes do that)."""
    known = scope.get(SCOPE_STORE_KEY)
    if isinstance(known, uuid.UUID):
        return known
    path: str = scope.get("path", "")
    match = STORE_PATH.match(path)
    if match:
        return _uuid(match.group(1))
    if not path.startswith(STOREFRONT_PREFIX):
        return None
    found = await runtime.resolver.store_for_host(_header(scope, b"host"))
    if found is not None:
        return found
    found = _uuid(_header(scope, STORE_HEADER.encode()))
    if found is not None:
        return found
    authorization = _header(scope, b"authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        try:
            return _uuid(runtime.tokens.verify(token.strip()).store_id)
        except TokenError:
            return None
    return None


def runtime_of(scope: Scope) -> Runtime | None:
    app = scope.get("app")
    state = getattr(app, "state", None)
    return getattr(state, "runtime", None)


class RateLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def parts(runtime: Runtime) -> tuple[PlanLimitsCache, SlidingWindow]:
        """The runtime's limits cache and window (created on first use)."""
        cache = runtime.extras.get("plan_limits")
        if not isinstance(cache, PlanLimitsCache):
            cache = runtime.extras["plan_limits"] = PlanLimitsCache(
                runtime.control_sessions, ttl=runtime.settings.plan_limits_cache_seconds
            )
        window = runtime.extras.get("rate_window")
        if not isinstance(window, SlidingWindow):
            window = runtime.extras["rate_window"] = SlidingWindow()
        return cache, window

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        runtime = runtime_of(scope)
        if (
            runtime is None
            or not runtime.settings.rate_limit_enabled
            or not (path.startswith("/api/stores/") or path.startswith(STOREFRONT_PREFIX))
        ):
            await self.app(scope, receive, send)
            return
        store_id = await store_of_request(scope, runtime)
        if store_id is None:
            await self.app(scope, receive, send)
            return
        scope[SCOPE_STORE_KEY] = store_id
        cache, window = self.parts(runtime)
        limits = await cache.get(store_id)
        limit = limits.max_api_calls_per_minute if limits else None
        if limits is None or limit is None:
            await self.app(scope, receive, send)
            return
        wait = window.acquire(store_id, limit)
        if wait is not None:
            await _too_many(send, limits.plan, limit, wait)
            return
        status = 0

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            if status in REFUNDED_STATUSES:
                window.release(store_id)


async def _too_many(send: Send, plan: str, limit: int, wait: int) -> None:
    body = json.dumps(
        {
            "type": PROBLEM_TYPE_BASE + "rate-limited",
            "title": "Too many requests",
            "status": 429,
            "detail": f"The {plan} plan allows {limit} API calls per minute for this store; "
            f"retry in {wait} s",
            "limit": "max_api_calls_per_minute",
            "plan": plan,
            "allowed": limit,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(wait).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
