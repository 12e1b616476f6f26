"""Records every ``/api/`` request into the usage buffer; the database is never on this path.

Pure ASGI: after the app answers, the route *template* (``scope["route"].path``, set by the
router) is taken, never the raw path, so ids and hostile strings do not reach the logs. The
caller's account comes from its token, verified once per token and then cached.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Receive, Scope, Send

from storefleet.api.ratelimit import (
    peek_store,
    request_headers,
    runtime_of,
    store_of_request,
)
from storefleet.asgi import StatusCapture
from storefleet.control.accounts.service import PLATFORM_ACCOUNT_TYPES
from storefleet.control.hostnames.resolver import NOT_CACHED
from storefleet.control.usage.service import UsageRecord
from storefleet.security.tokens import TokenError

if TYPE_CHECKING:
    from storefleet.runtime import Runtime

UNMATCHED = "<unmatched>"
MAX_CACHED_TOKENS = 4096


class UsageMetering:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Keyed by a digest of the token: the cache never holds the token itself.
        self._accounts: OrderedDict[bytes, tuple[uuid.UUID | None, int]] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith("/api/"):
            await self.app(scope, receive, send)
            return
        runtime = runtime_of(scope)
        recorder = runtime.usage_recorder if runtime is not None else None
        if runtime is None or recorder is None:
            await self.app(scope, receive, send)
            return
        at = datetime.now(UTC)
        started = time.perf_counter()
        sent = StatusCapture(send, default=500)
        try:
            await self.app(scope, receive, sent)
        finally:
            duration_ms = int((time.perf_counter() - started) * 1000)
            route = getattr(scope.get("route"), "path", None)
            # Usually the rate limiter's answer, left in the scope.
            known = peek_store(scope, runtime)
            store_id = known if isinstance(known, uuid.UUID) else None
            if known is NOT_CACHED:
                try:
                    store_id = await store_of_request(scope, runtime)
                except Exception:
                    store_id = None
            header = request_headers(scope)[2]
            recorder.record(
                UsageRecord(
                    at=at,
                    store_id=store_id,
                    account_id=self._account(header, runtime) if header else None,
                    method=str(scope.get("method", "")),
                    route=route if isinstance(route, str) else UNMATCHED,
                    status=sent.status,
                    duration_ms=duration_ms,
                )
            )

    def _account(self, header: str, runtime: Runtime) -> uuid.UUID | None:
        """The platform account behind the bearer token, if it carries a valid one."""
        now = int(time.time())
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        digest = hashlib.blake2b(token.encode(), digest_size=16).digest()
        hit = self._accounts.get(digest)
        if hit is not None:
            if hit[1] > now:
                return hit[0]
            del self._accounts[digest]
            return None
        try:
            claims = runtime.tokens.verify(token)
        except TokenError:
            return None
        account: uuid.UUID | None = None
        if claims.account_type in PLATFORM_ACCOUNT_TYPES:
            try:
                account = uuid.UUID(claims.sub)
            except ValueError:
                account = None
        self._accounts[digest] = (account, claims.exp)
        if len(self._accounts) > MAX_CACHED_TOKENS:
            self._accounts.popitem(last=False)
        return account
