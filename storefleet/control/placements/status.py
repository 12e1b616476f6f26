"""Where the fleet stands: stores per placement, revision and status, and the troubled ones.

What ``storefleet tenants status`` prints, read in one control-plane transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.placements.models import StoreDatabase, TenantMigrationFile


@dataclass(frozen=True)
class FleetStatus:
    counts: list[tuple[str, str | None, str, int]]  # placement, revision, status, stores
    troubled: list[StoreDatabase]  # not ready or with an error, most recently changed first
    recorded: int  # tenant migration files checksummed


async def fleet_status(session: AsyncSession, *, detail_rows: int) -> FleetStatus:
    counts = (
        await session.execute(
            select(
                StoreDatabase.placement,
                StoreDatabase.schema_revision,
                StoreDatabase.status,
                func.count(),
            )
            .group_by(StoreDatabase.placement, StoreDatabase.schema_revision, StoreDatabase.status)
            .order_by(StoreDatabase.placement, StoreDatabase.schema_revision, StoreDatabase.status)
        )
    ).all()
    troubled = (
        await session.execute(
            select(StoreDatabase)
            .where((StoreDatabase.status != "ready") | StoreDatabase.last_error.is_not(None))
            .order_by(StoreDatabase.updated_at.desc())
            .limit(detail_rows)
        )
    ).scalars()
    recorded = (
        await session.execute(select(func.count()).select_from(TenantMigrationFile))
    ).scalar_one()
    return FleetStatus([(p, r, s, int(n)) for p, r, s, n in counts], list(troubled), int(recorded))
