"""Sign-in failure counters in the control plane, shared by every worker process and machine.

The throttle's counting lives in ``security.throttle``; this is its ``FailureStore`` over the
UNLOGGED table ``login_failures``: one row per counter key holding that key's newest failure
times inside the window. Admitting an attempt is one primary-key read; a failure is one
upsert, which also deletes a few rows whose window has passed (skipping rows another
writer holds), so the table stays as small as the failures of one window without a loop.
UNLOGGED: a crash of the database server empties it, which only forgets recent failures.

Statements run on their own autocommit connection, never in the caller's transaction: a
failed sign-in rolls its request back, and its count must stay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from storefleet.db.urls import libpq_conninfo

PRUNE_PER_WRITE = 8

RECENT_SQL = text(
    "SELECT key, failures FROM login_failures WHERE key = ANY(:keys) AND expires_at > :now"
)
RECORD_SQL = text(
    """
WITH pruned AS (
    DELETE FROM login_failures WHERE key IN (
        SELECT key FROM login_failures
        WHERE expires_at <= :now AND key <> ALL(CAST(:keys AS bytea[]))
        ORDER BY expires_at LIMIT :prune FOR UPDATE SKIP LOCKED
    )
)
INSERT INTO login_failures AS f (key, failures, expires_at)
SELECT k, ARRAY[CAST(:now AS float8)], CAST(:now AS float8) + :window
FROM unnest(CAST(:keys AS bytea[])) AS k
ON CONFLICT (key) DO UPDATE SET
    failures = ARRAY(
        SELECT t FROM unnest(f.failures || EXCLUDED.failures) AS t
        WHERE t > CAST(:now AS float8) - :window ORDER BY t DESC LIMIT :keep
    ),
    expires_at = EXCLUDED.expires_at
RETURNING key, cardinality(failures)
"""
)
RESET_SQL = text("DELETE FROM login_failures WHERE key = :key")


class ControlFailures:
    """The ``FailureStore`` every process of the platform shares."""

    def __init__(self, engine: AsyncEngine, url: URL) -> None:
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.url = url

    async def recent(
        self, keys: Sequence[bytes], now: float, window: float
    ) -> Mapping[bytes, Sequence[float]]:
        since = now - window
        async with self.engine.connect() as conn:
            rows = (await conn.execute(RECENT_SQL, {"keys": list(keys), "now": now})).all()
        found: dict[bytes, Sequence[float]] = {}
        for key, failures in rows:
            times = [t for t in failures if t > since]
            if times:
                found[bytes(key)] = times
        return found

    async def record(
        self, keys: Sequence[bytes], now: float, window: float, keep: int
    ) -> Mapping[bytes, int]:
        params = {
            "keys": list(keys),
            "now": now,
            "window": float(window),
            "keep": keep,
            "prune": PRUNE_PER_WRITE,
        }
        async with self.engine.connect() as conn:
            rows = (await conn.execute(RECORD_SQL, params)).all()
        return {bytes(key): int(count) for key, count in rows}

    async def reset(self, key: bytes) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(RESET_SQL, {"key": key})

    def clear(self) -> None:
        with psycopg.connect(libpq_conninfo(self.url), autocommit=True) as conn:
            conn.execute("DELETE FROM login_failures")
