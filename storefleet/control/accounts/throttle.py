"""Counting failed logins per email and per client, so guessing passwords gets slow."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from storefleet.errors import RateLimited


class LoginThrottle:
    """Sliding-window failure counter, kept in process memory.

    Keys are ``email:<lowercased>`` and ``client:<ip>``. A key with ``max_failures`` failures
    inside the window is refused until its oldest failure leaves the window.
    """

    def __init__(
        self,
        *,
        max_failures: int,
        window_seconds: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float] | None:
        q = self._failures.get(key)
        if q is None:
            return None
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._failures[key]
            return None
        return q

    def check(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                q = self._prune(key, now)
                if q is not None and len(q) >= self.max_failures:
                    retry_after = int(q[0] + self.window - now) + 1
                    raise RateLimited(
                        "Too many failed sign-in attempts; try again later",
                        retry_after=retry_after,
                    )

    def record_failure(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            if len(self._failures) >= self.max_keys:
                for stale in list(self._failures)[: self.max_keys // 10]:
                    self._failures.pop(stale, None)
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()

    def reset(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
