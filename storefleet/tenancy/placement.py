"""Where one store's data lives, as the request path needs to know it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.placements.models import StoreDatabase
from storefleet.control.stores.models import Store


@dataclass(frozen=True)
class StorePlacement:
    store_id: uuid.UUID
    placement: str
    server_id: uuid.UUID | None
    database: str
    schema: str
    status: str
    store_status: str
    writes_paused: bool
    isolation: str
    schema_revision: str | None
    published: bool = True
    owner_id: uuid.UUID | None = None

    @property
    def external(self) -> bool:
        return self.server_id is None

    @property
    def engine_key(self) -> str:
        where = str(self.server_id) if self.server_id else f"external:{self.store_id}"
        return f"{where}/{self.database}"


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
