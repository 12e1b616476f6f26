"""Pruning ``revoked_tokens``: a revoked token past its expiry is refused by its ``exp``
alone, so its row can go, and the table stays as small as the logouts of one token lifetime.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.background import BackgroundLoop

log = logging.getLogger(__name__)

# Kept a little past expiry, for servers whose clocks run behind this one's.
CLOCK_SKEW = timedelta(minutes=5)
PRUNE_SQL = text(
    "DELETE FROM revoked_tokens WHERE jti IN (SELECT jti FROM revoked_tokens "
    "WHERE expires_at < :cutoff LIMIT :batch)"
)


async def prune_revoked_tokens(
    control_sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    batch: int = 10_000,
) -> int:
    """Delete rows of tokens that expired (before ``now`` less the skew), in short
    transactions; returns how many."""
    cutoff = (now or datetime.now(UTC)) - CLOCK_SKEW
    removed = 0
    while True:
        async with control_sessions() as session, session.begin():
            result = await session.execute(PRUNE_SQL, {"cutoff": cutoff, "batch": batch})
        count = int(getattr(result, "rowcount", 0) or 0)
        removed += count
        if count < batch:
            return removed


class RevokedTokenPruner(BackgroundLoop):
    """Prunes at start and then every ``interval`` seconds, in the background."""

    name = "revoked-token-pruner"

    def __init__(
        self, control_sessions: async_sessionmaker[AsyncSession], *, interval: float
    ) -> None:
        super().__init__()
        self.control_sessions = control_sessions
        self.interval = interval

    async def run(self) -> None:
        while not self.stopping:
            try:
                removed = await prune_revoked_tokens(self.control_sessions)
                if removed:
                    log.info("pruned %d expired revoked tokens", removed)
            except Exception:
                log.exception("pruning revoked tokens failed")
            await asyncio.sleep(self.interval)
