"""Failed sign-ins counted per (email, client) and per client, so guessing passwords gets slow.

Keying on the email alone would let anyone lock any account by failing a few times with
its address. Here a client that fails ``max_failures`` times for one email is refused for
that email only, and a client that fails ``max_client_failures`` times in all (many emails,
any login kind) is refused for every email; the rightful user signing in from elsewhere is
never affected. IPv6 clients count by their /64, which one subscriber usually holds whole.

Every login path calls it the same way::

    attempt = await throttle.attempt("customer:<store id>", email, client_ip)  # 429 if refused
    ...
    await attempt.failed()      # wrong email or password
    await attempt.succeeded()   # clears this client's failures for this email

The counting logic lives here; where the failure times are kept is a ``FailureStore``. In
memory (``MemoryFailures``) they hold for one process only, so a server running several
worker processes (or machines) is given a store shared through the control plane instead:
the runtime injects it, because this layer knows no database.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from storefleet.errors import RateLimited

log = logging.getLogger(__name__)

UNKNOWN_CLIENT = "unknown"


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


def counter_key(*parts: str) -> bytes:
    """A fixed-size key for one counter: stores keep no email or address in clear."""
    return hashlib.sha256(json.dumps(parts).encode()).digest()


class FailureStore(Protocol):
    """Where failure times (seconds of the throttle's clock) are kept, per counter key."""

    async def recent(
        self, keys: Sequence[bytes], now: float, window: float
    ) -> Mapping[bytes, Sequence[float]]:
        """The failure times inside the window ending ``now`` of each key that has any."""
        ...

    async def record(
        self, keys: Sequence[bytes], now: float, window: float, keep: int
    ) -> Mapping[bytes, int]:
        """Add a failure at ``now`` to each key, keeping at most its ``keep`` newest inside
        the window; how many each key now counts."""
        ...

    async def reset(self, key: bytes) -> None: ...

    def clear(self) -> None:
        """Forget every counter (tests and operators; may block)."""
        ...


class MemoryFailures:
    """Failure times in this process's memory: right for one process, and for unit tests."""

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._failures: dict[bytes, list[float]] = {}
        self._lock = threading.Lock()

    async def recent(
        self, keys: Sequence[bytes], now: float, window: float
    ) -> Mapping[bytes, Sequence[float]]:
        since = now - window
        found: dict[bytes, Sequence[float]] = {}
        with self._lock:
            for key in keys:
                times = [t for t in self._failures.get(key, ()) if t > since]
                if times:
                    self._failures[key] = times
                    found[key] = times
                else:
                    self._failures.pop(key, None)
        return found

    async def record(
        self, keys: Sequence[bytes], now: float, window: float, keep: int
    ) -> Mapping[bytes, int]:
        since = now - window
        counts: dict[bytes, int] = {}
        with self._lock:
            if len(self._failures) >= self.max_keys:
                for stale in list(self._failures)[: self.max_keys // 10]:
                    self._failures.pop(stale, None)
            for key in keys:
                times = [t for t in self._failures.get(key, ()) if t > since]
                times.append(now)
                self._failures[key] = times[-keep:]
                counts[key] = len(self._failures[key])
        return counts

    async def reset(self, key: bytes) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()


@dataclass(frozen=True)
class LoginAttempt:
    """One sign-in, already admitted by the throttle; report how it ended."""

    throttle: LoginThrottle
    pair: bytes
    client: bytes
    pair_had_failures: bool
    who: str

    async def failed(self) -> None:
        await self.throttle._record(self.pair, self.client, self.who)

    async def succeeded(self) -> None:
        # Nothing to clear when the pair had no failures when the attempt was admitted: a
        # successful sign-in then costs no write.
        if self.pair_had_failures:
            await self.throttle.store.reset(self.pair)


class LoginThrottle:
    """Sliding-window failure counters over a ``FailureStore``.

    A key with its limit of failures inside the window is refused until its oldest failure
    leaves the window. With a shared store the clock must be one every process agrees on
    (wall time, the default), not a per-process monotonic clock.
    """

    def __init__(
        self,
        *,
        max_failures: int,
        window_seconds: int,
        max_client_failures: int,
        clock: Callable[[], float] = time.time,
        store: FailureStore | None = None,
    ) -> None:
        self.max_failures = max_failures
        self.max_client_failures = max(max_client_failures, max_failures)
        self.window = window_seconds
        self.clock = clock
        self.store: FailureStore = store if store is not None else MemoryFailures()

    async def attempt(self, realm: str, email: str, client: str | None) -> LoginAttempt:
        """Admit a sign-in of ``email`` in ``realm`` from ``client``, or raise 429."""
        who = client_key(client)
        pair = counter_key("pair", realm, email.strip().lower(), who)
        alone = counter_key("client", who)
        now = self.clock()
        recent = await self.store.recent((pair, alone), now, self.window)
        self._refuse_if_full(recent.get(pair, ()), self.max_failures, now)
        self._refuse_if_full(recent.get(alone, ()), self.max_client_failures, now)
        return LoginAttempt(self, pair, alone, pair in recent, who)

    def _refuse_if_full(self, times: Sequence[float], limit: int, now: float) -> None:
        if len(times) >= limit:
            oldest_counted = sorted(times)[-limit]
            raise RateLimited(
                "Too many failed sign-in attempts; try again later",
                retry_after=int(oldest_counted + self.window - now) + 1,
            )

    async def _record(self, pair: bytes, client: bytes, who: str) -> None:
        counts = await self.store.record(
            (pair, client), self.clock(), self.window, self.max_client_failures
        )
        if counts.get(client) == self.max_client_failures:
            log.warning(
                "sign-in throttle: client %s failed %d times in %d s and is refused",
                who,
                self.max_client_failures,
                self.window,
            )

    def clear(self) -> None:
        self.store.clear()
