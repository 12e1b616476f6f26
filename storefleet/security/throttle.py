"""Failed sign-ins counted per (email, client) and per client, so guessing passwords gets slow.

Keying on the email alone would let anyone lock any account by failing a few times with
its address. Here a client that fails ``max_failures`` times for one email is refused for
that email only, and a client that fails ``max_client_failures`` times in all (many emails,
any login kind) is refused for every email; the rightful user signing in from elsewhere is
never affected. IPv6 clients count by their /64, which one subscriber usually holds whole.

Every login path calls it the same way::

    attempt = throttle.attempt("customer:<store id>", email, client_ip)  # 429 if refused
    ...
    attempt.failed()      # wrong email or password
    attempt.succeeded()   # clears this client's failures for this email
"""

from __future__ import annotations

import functools
import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from storefleet.errors import RateLimited

UNKNOWN_CLIENT = "unknown"
_Key = tuple[str, ...]


@functools.lru_cache(maxsize=8192)
def client_key(host: str | None) -> str:
    """What counts as one client: the address, an IPv6 address's /64, or ``unknown``."""
    if not host:
        return UNKNOWN_CLIENT
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(frozen=True)
class LoginAttempt:
    """One sign-in, already admitted by the throttle; report how it ended."""

    throttle: LoginThrottle
    pair: _Key
    client: _Key

    def failed(self) -> None:
        self.throttle._record(self.pair, self.client)

    def succeeded(self) -> None:
        self.throttle._reset(self.pair)


class LoginThrottle:
    """Sliding-window failure counters, kept in process memory.

    A key with its limit of failures inside the window is refused until its oldest failure
    leaves the window.
    """

    def __init__(
        self,
        *,
        max_failures: int,
        window_seconds: int,
        max_client_failures: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.max_client_failures = max(max_client_failures, max_failures)
        self.window = window_seconds
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[_Key, deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, realm: str, email: str, client: str | None) -> LoginAttempt:
        """Admit a sign-in of ``email`` in ``realm`` from ``client``, or raise 429."""
        who = client_key(client)
        pair = ("pair", realm, email.strip().lower(), who)
        alone = ("client", who)
        now = self.clock()
        with self._lock:
            self._refuse_if_full(pair, self.max_failures, now)
            self._refuse_if_full(alone, self.max_client_failures, now)
        return LoginAttempt(self, pair, alone)

    def _refuse_if_full(self, key: _Key, limit: int, now: float) -> None:
        q = self._failures.get(key)
        if q is None:
            return
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._failures[key]
            return
        if len(q) >= limit:
            raise RateLimited(
                "Too many failed sign-in attempts; try again later",
                retry_after=int(q[-limit] + self.window - now) + 1,
            )

    def _record(self, *keys: _Key) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= self.max_keys:
                for stale in list(self._failures)[: self.max_keys // 10]:
                    self._failures.pop(stale, None)
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def _reset(self, key: _Key) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
