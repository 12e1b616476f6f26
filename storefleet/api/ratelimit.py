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

import math
import re
import uuid
from collections.abc import Hashable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from storefleet.asgi import PROBLEM_TYPE_BASE, StatusCapture, send_problem
from storefleet.control.billing.limits import PlanLimits
from storefleet.control.hostnames.resolver import STORE_HEADER
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
REFUNDED_STATUSES = frozenset({400, 401, 403, 404})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _bearer_claims(scope: Scope, runtime: Runtime) -> TokenClaims | None:
    """The claims of a validly signed, unexpired bearer token (revocation is the routes')."""
    scheme, _, token = (_header(scope, b"authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return runtime.verified_tokens.verify(runtime.tokens, token.strip())


async def store_of_request(scope: Scope, runtime: Runtime) -> uuid.UUID | None:
    """The store a request is about, without authenticating it (routes do that)."""
    known = scope.get(SCOPE_STORE_KEY)
    if isinstance(known, uuid.UUID):
        return known
    path: str = scope.get("path", "")
    match = STORE_PATH.match(path)
    if match:
        return parse_uuid(match.group(1))
    if not path.startswith(STOREFRONT_PREFIX):
        return None
    found = await runtime.resolver.store_for_host(_header(scope, b"host"))
    if found is not None:
        return found
    found = parse_uuid(_header(scope, STORE_HEADER.encode()))
    if found is not None:
        return found
    claims = _bearer_claims(scope, runtime)
    return parse_uuid(claims.store_id) if claims is not None else None


def runtime_of(scope: Scope) -> Runtime | None:
    app = scope.get("app")
    state = getattr(app, "state", None)
    return getattr(state, "runtime", None)


class RateLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
        budgets = runtime.rate_budgets
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
        sent = StatusCapture(send)
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
