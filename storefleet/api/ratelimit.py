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

Per-minute counting is a sliding window (two fixed windows, the previous one weighted by how
much of it still overlaps), O(1) per key, shared with the other API processes in the
background (``control.usage.rate_sync``: the fleet may overshoot by about one sync
interval's traffic). A call is counted when it starts (so a burst cannot slip past in
parallel) and handed back when it ends in 400/401/403/404.

Off the critical section: what a request needs (its store, the plan's limits, the owner,
the month's count) comes from in-process caches without an await; only a cache miss
awaits the control plane. The store is worked out once per request, the headers read in one
pass, and both are left in the scope for metering.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from storefleet.asgi import PROBLEM_TYPE_BASE, StatusCapture, send_problem
from storefleet.control.billing.limits import MISSING, PlanLimits
from storefleet.control.hostnames.resolver import NOT_CACHED
from storefleet.control.usage.budgets import SlidingWindow
from storefleet.control.usage.monthly import month_of, next_month
from storefleet.control.usage.service import NOT_THE_STORES
from storefleet.db.ids import parse_uuid
from storefleet.security.throttle import client_key
from storefleet.security.tokens import TokenClaims

if TYPE_CHECKING:
    from storefleet.runtime import Runtime

STORE_PATH = re.compile(r"^/api/stores/([0-9a-fA-F-]{32,36})(?:/|$)")
STOREFRONT_PREFIX = "/api/storefront/"
SCOPE_STORE_KEY = "storefleet.store_id"
SCOPE_HEADERS_KEY = "storefleet.headers"
REFUNDED_STATUSES = frozenset({400, 401, 403, 404})
MAX_CLIENT_KEYS = 50_000

Headers = tuple[str | None, str | None, str | None]  # Host, X-Store-Id, Authorization


def request_headers(scope: Scope) -> Headers:
    """The three headers the middlewares read, in one pass (the first of each), kept in the
    scope for the next middleware."""
    found: Headers | None = scope.get(SCOPE_HEADERS_KEY)
    if found is not None:
        return found
    host = store = authorization = None
    for key, value in scope.get("headers", ()):
        if key == b"host":
            if host is None:
                host = value
        elif key == b"x-store-id":
            if store is None:
                store = value
        elif key == b"authorization" and authorization is None:
            authorization = value
    found = (
        None if host is None else host.decode("latin-1"),
        None if store is None else store.decode("latin-1"),
        None if authorization is None else authorization.decode("latin-1"),
    )
    scope[SCOPE_HEADERS_KEY] = found
    return found


def _bearer_claims(scope: Scope, runtime: Runtime) -> TokenClaims | None:
    """The claims of a validly signed, unexpired bearer token (revocation is the routes')."""
    scheme, _, token = (request_headers(scope)[2] or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return runtime.verified_tokens.verify(runtime.tokens, token.strip())


def _store_without_host(scope: Scope, runtime: Runtime) -> uuid.UUID | None:
    found = parse_uuid(request_headers(scope)[1])
    if found is not None:
        return found
    claims = _bearer_claims(scope, runtime)
    return parse_uuid(claims.store_id) if claims is not None else None


def peek_store(scope: Scope, runtime: Runtime) -> uuid.UUID | object | None:
    """``store_of_request`` without awaiting, or ``NOT_CACHED`` when the ``Host`` is not in
    the resolver's cache yet."""
    known = scope.get(SCOPE_STORE_KEY, NOT_CACHED)
    if known is not NOT_CACHED:
        return known
    path: str = scope.get("path", "")
    match = STORE_PATH.match(path)
    if match:
        return parse_uuid(match.group(1))
    if not path.startswith(STOREFRONT_PREFIX):
        return None
    found = runtime.resolver.cached_store_for_host(request_headers(scope)[0])
    if found is NOT_CACHED or found is not None:
        return found
    return _store_without_host(scope, runtime)


async def store_of_request(scope: Scope, runtime: Runtime) -> uuid.UUID | None:
    """The store a request is about, without authenticating it (routes do that)."""
    found = peek_store(scope, runtime)
    if found is NOT_CACHED:
        from_host = await runtime.resolver.store_for_host(request_headers(scope)[0])
        return from_host if from_host is not None else _store_without_host(scope, runtime)
    assert found is None or isinstance(found, uuid.UUID)
    return found


def runtime_of(scope: Scope) -> Runtime | None:
    app = scope.get("app")
    state = getattr(app, "state", None)
    return getattr(state, "runtime", None)


class RateLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._clients: dict[str | None, str] = {}

    def _shopper(self, store_id: uuid.UUID, scope: Scope) -> tuple[uuid.UUID, str]:
        """(store, client key): each address parsed once, not on every request."""
        client = scope.get("client")
        address = client[0] if client else None
        key = self._clients.get(address)
        if key is None:
            if len(self._clients) >= MAX_CLIENT_KEYS:
                self._clients.clear()
            key = self._clients[address] = client_key(address)
        return (store_id, key)

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
        found = peek_store(scope, runtime)
        store_id = await store_of_request(scope, runtime) if found is NOT_CACHED else found
        scope[SCOPE_STORE_KEY] = store_id
        if not isinstance(store_id, uuid.UUID):
            await self.app(scope, receive, send)
            return
        budgets = runtime.rate_budgets
        cached = budgets.limits.peek(store_id)
        limits = await budgets.limits.get(store_id) if cached is MISSING else cached
        if not isinstance(limits, PlanLimits):
            await self.app(scope, receive, send)
            return
        if not storefront:
            claims = _bearer_claims(scope, runtime)
            member = budgets.peek_member(claims, store_id)
            if member is None:
                member = await budgets.is_member(claims, store_id)
            if not member:
                await self.app(scope, receive, send)
                return
        monthly = limits.max_api_calls_per_month
        if monthly is not None:
            used = budgets.monthly.peek(store_id)
            if used is None:
                used = await budgets.monthly.count(store_id)
            if storefront and used >= monthly:
                await _month_used_up(send, limits.plan, monthly, used)
                return
        taken: list[tuple[SlidingWindow, Hashable]] = []
        per_minute = limits.max_api_calls_per_minute
        if per_minute is not None:
            if storefront:
                share = max(1, int(per_minute * budgets.client_share))
                wanted = [
                    (budgets.clients, self._shopper(store_id, scope), share, "client"),
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
        # Metering (just outside) already captures the status: no second wrapper.
        sent = send if isinstance(send, StatusCapture) else StatusCapture(send)
        try:
            await self.app(scope, receive, sent)
        finally:
            status = sent.status
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
    await send_problem(
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
        retry_after=wait,
    )


async def _month_used_up(send: Send, plan: str, allowed: int, used: int) -> None:
    now = datetime.now(UTC)
    first = next_month(month_of(now.date()))
    resets = datetime(first.year, first.month, first.day, tzinfo=UTC)
    wait = max(1, math.ceil((resets - now) / timedelta(seconds=1)))
    await send_problem(
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
        retry_after=wait,
    )
