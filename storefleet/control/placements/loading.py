"""A store's placement row read as the value tenancy routes by (``StorePlacement``)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.placements.models import StoreDatabase
from storefleet.control.stores.models import Store
from storefleet.tenancy.placement import StorePlacement


def placement_from_rows(db: StoreDatabase, store: Store) -> StorePlacement:
    return StorePlacement(
        store_id=db.store_id,
        placement=db.placement,
        server_id=db.server_id,
        database=db.database_name,
        schema=db.schema_name,
        status=db.status,
        store_status=store.status,
        writes_paused=db.writes_paused,
        isolation=db.isolation,
        schema_revision=db.schema_revision,
        published=store.published,
        owner_id=store.owner_id,
    )


async def load_placement(session: AsyncSession, store_id: uuid.UUID) -> StorePlacement | None:
    row = (
        await session.execute(
            select(StoreDatabase, Store)
            .join(Store, Store.id == StoreDatabase.store_id)
            .where(StoreDatabase.store_id == store_id)
        )
    ).first()
    if row is None:
        return None
    return placement_from_rows(row[0], row[1])
