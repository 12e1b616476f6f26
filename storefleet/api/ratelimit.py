"""Per-store API budgets from the store's plan: 429 beyond them.

A pure ASGI middleware in front of ``/api/stores/{store_id}/…`` (admin) and
``/api/storefront/…``. The store comes from the path, or for storefront requests from
``Host`` / ``X-Store-Id`` / the token, like the resolver does. What is counted, so that no
stranger can spend a store's budget:

- admin calls only when they carry a validly signed token of the store's owner or staff
  (the signature is checked here, once per token; the owner from a cache). Anonymous, forged or
  foreign tokens pass uncounted (the routes answer them 401/403/404).
- storefront calls per client (an address, an IPv6 /64): one client may use at most
  ``storefront_client_share`` of the store's storefront allowance, the store's shoppers
  together the plan's ``max_api_calls_per_minute``, apart from the admin allowance.
- ``max_api_calls_per_month``: the store's metered calls this UTC calendar month (all of
  them, admin and storefront) against the plan; beyond it the storefront answers 429 until
  the month ends. Admin calls are never refused for the month, so the owner can always
  reach the store and change its plan.

Per-minute counting is an in-process sliding window (two fixed windows, the previous one
weighted by how much of it still overlaps), O(1) per key. A call is counted when it starts
(so a burst cannot slip past in parallel) and handed back when it ends in 400/401/403/404.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefleet.api.errors import PROBLEM_MEDIA_TYPE, PROBLEM_TYPE_BASE
from storefleet.control.accounts.service import PLATFORM_ACCOUNT_TYPES
from storefleet.control.accounts.throttle import client_key
from storefleet.control.billing.limits import PlanLimits, PlanLimitsCache
from storefleet.control.hostnames.resolver import STORE_HEADER
from storefleet.control.stores.owners import StoreOwners
from storefleet.control.usage.monthly import MonthlyRequests, month_of, next_month
from storefleet.control.usage.service import NOT_THE_STORES
from storefleet.security.tokens import TokenClaims, TokenError

if TYPE_CHECKING:
    from storefleet.runtime import Runtime

STORE_PATH = re.compile(r"^/api/stores/([0-9a-fA-F-]{32,36})(?:/|$)")
STOREFRONT_PREFIX = "/api/storefront/"
SCOPE_STORE_KEY = "storefleet.store_id"
REFUNDED_STATUSES = frozenset({400, 401, 403, 404})
PERIOD = 60.0
MAX_CACHED_TOKENS = 4096
_TOKENS = "verified_tokens"


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


class VerifiedTokens:
    """Digest of a token → its claims, once its signature checked out, until it expires.

    Verifying an HS256 token costs some 70 µs; a digest lookup about 1. The digest, never
    the token, is kept. Revocation stays the routes' business.
    """

    def __init__(self, max_entries: int = MAX_CACHED_TOKENS) -> None:
        self.max_entries = max_entries
        self._claims: OrderedDict[bytes, TokenClaims | None] = OrderedDict()

    def verify(self, runtime: Runtime, token: str) -> TokenClaims | None:
        digest = hashlib.blake2b(token.encode(), digest_size=16).digest()
        if digest in self._claims:
            claims = self._claims[digest]
            if claims is None or claims.exp > time.time():
                return claims
        try:
            claims = runtime.tokens.verify(token)
        except TokenError:
            claims = None
        self._claims[digest] = claims
        self._claims.move_to_end(digest)
        if len(self._claims) > self.max_entries:
            self._claims.popitem(last=False)
        return claims


def _bearer_claims(scope: Scope, runtime: Runtime) -> TokenClaims | None:
    """The claims of a validly signed, unexpired bearer token (revocation is the routes')."""
    scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    cache = runtime.extras.get(_TOKENS)
    if not isinstance(cache, VerifiedTokens):
        cache = runtime.extras[_TOKENS] = VerifiedTokens()
    return cache.verify(runtime, token.strip())


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
    claims = _bearer_claims(scope, runtime)
    return _uuid(claims.store_id) if claims is not None else None


def runtime_of(scope: Scope) -> Runtime | None:
    app = scope.get("app")
    state = getattr(app, "state", None)
    return getattr(state, "runtime", None)


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
            return _uuid(claims.store_id) == store_id
        if claims.account_type in PLATFORM_ACCOUNT_TYPES:
            owner = await self.owners.owner_of(store_id)
            return owner is not None and _uuid(claims.sub) == owner
        return False


_BUDGETS = "rate_budgets"


class RateLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    @staticmethod
    def parts(runtime: Runtime) -> Budgets:
        """The runtime's budgets (created on first use)."""
        budgets = runtime.extras.get(_BUDGETS)
        if isinstance(budgets, Budgets):
            return budgets
        limits = runtime.extras.get("plan_limits")
        if not isinstance(limits, PlanLimitsCache):  # shared with plan changes' invalidation
            limits = runtime.extras["plan_limits"] = PlanLimitsCache(
                runtime.control_sessions, ttl=runtime.settings.plan_limits_cache_seconds
            )
        budgets = Budgets(
            limits=limits,
            owners=StoreOwners(runtime.control_sessions),
            admin=SlidingWindow(),
            storefront=SlidingWindow(),
            clients=SlidingWindow(),
            monthly=MonthlyRequests(
                runtime.control_sessions,
                refresh_seconds=runtime.settings.monthly_usage_refresh_seconds,
            ),
            client_share=runtime.settings.storefront_client_share,
        )
        runtime.extras[_BUDGETS] = budgets
        return budgets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        runtime = runtime_of(scope)
        storefront = path.startswith(STOREFRONT_PREFIX)
        if (
            runtime is None
            or not runtime.settings.rate_limit_enabled
            or not (storefront or path.startswith("/api/stores/"))
        ):
            await self.app(scope, receive, send)
            return
        store_id = await store_of_request(scope, runtime)
        if store_id is None:
            await self.app(scope, receive, send)
            return
        scope[SCOPE_STORE_KEY] = store_id
        budgets = self.parts(runtime)
        limits = await budgets.limits.get(store_id)
        if limits is None or not (
            storefront or await budgets.is_member(_bearer_claims(scope, runtime), store_id)
        ):
            await self.app(scope, receive, send)
            return
        monthly = limits.max_api_calls_per_month
        if monthly is not None:
            used = await budgets.monthly.count(store_id)
            if storefront and used >= monthly:
                await _month_used_up(send, limits.plan, monthly, used)
                return
        taken: list[tuple[SlidingWindow, Hashable]] = []
        per_minute = limits.max_api_calls_per_minute
        if per_minute is not None:
            if storefront:
                client = scope.get("client")
                shopper = (store_id, client_key(client[0] if client else None))
                share = max(1, int(per_minute * budgets.client_share))
                wanted = [
                    (budgets.clients, shopper, share, "client"),
                    (budgets.storefront, store_id, per_minute, "storefront"),
                ]
            else:
                wanted = [(budgets.admin, store_id, per_minute, "admin")]
            for window, key, limit, scope_name in wanted:
                wait = window.acquire(key, limit)
                if wait is not None:
                    for done, done_key in taken:
                        done.release(done_key)
                    await _too_many(send, limits, limit, wait, scope_name)
                    return
                taken.append((window, key))
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
                for window, key in taken:
                    window.release(key)
            if monthly is not None and status not in NOT_THE_STORES:
                budgets.monthly.add(store_id)


_WHOSE = {
    "admin": "for this store's owner and staff",
    "storefront": "for this store's storefront",
    "client": "for one client of this store's storefront",
}


async def _too_many(send: Send, limits: PlanLimits, allowed: int, wait: int, whose: str) -> None:
    await _problem(
        send,
        {
            "type": PROBLEM_TYPE_BASE + "rate-limited",
            "title": "Too many requests",
            "status": 429,
            "detail": f"The {limits.plan} plan allows {allowed} API calls per minute "
            f"{_WHOSE[whose]}; retry in {wait} s",
            "limit": "max_api_calls_per_minute",
            "scope": whose,
            "plan": limits.plan,
            "allowed": allowed,
        },
        wait,
    )


async def _month_used_up(send: Send, plan: str, allowed: int, used: int) -> None:
    now = datetime.now(UTC)
    first = next_month(month_of(now.date()))
    resets = datetime(first.year, first.month, first.day, tzinfo=UTC)
    wait = max(1, math.ceil((resets - now) / timedelta(seconds=1)))
    await _problem(
        send,
        {
            "type": PROBLEM_TYPE_BASE + "rate-limited",
            "title": "Monthly API calls used up",
            "status": 429,
            "detail": f"The {plan} plan allows {allowed} API calls per month for this store; "
            f"the storefront answers again from {resets.date().isoformat()} (UTC), or at once "
            "after a plan upgrade",
            "limit": "max_api_calls_per_month",
            "plan": plan,
            "allowed": allowed,
            "current": used,
            "resets_at": resets.isoformat(),
        },
        wait,
    )


async def _problem(send: Send, problem: dict[str, object], retry_after: int) -> None:
    body = json.dumps(problem).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(retry_after).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
