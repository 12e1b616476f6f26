"""Which tenant database failures mean "busy, try again" (503 with ``Retry-After``).

A statement cancelled by our timeouts, or a store database that cannot be reached, answers
503 — the store is busy, not broken. Anything else is a real error.
"""

from __future__ import annotations

import psycopg
from sqlalchemy.exc import DBAPIError

from storefleet.errors import ServiceUnavailable

BUSY_RETRY_AFTER = 2
MOVE_RETRY_AFTER = 5


def is_busy(exc: BaseException) -> bool:
    """A statement cancelled by our timeouts, or a lock not granted in time."""
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable)


def is_unreachable(exc: BaseException) -> bool:
    """The store's database did not accept a connection (down, stalled, refused)."""
    orig = getattr(exc, "orig", exc)
    return isinstance(orig, psycopg.OperationalError) and not isinstance(
        orig, psycopg.errors.QueryCanceled | psycopg.errors.LockNotAvailable
    )


def as_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The 503 a tenant failure should answer, or None when it is a real error."""
    if is_busy(exc):
        return ServiceUnavailable(
            "The store's database is busy; try again shortly", retry_after=BUSY_RETRY_AFTER
        )
    if isinstance(exc, DBAPIError | psycopg.Error) and is_unreachable(exc):
        return ServiceUnavailable(
            "The store's database cannot be reached right now", retry_after=MOVE_RETRY_AFTER
        )
    return None
