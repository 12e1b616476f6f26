"""Store id → owning account id, cached for the rate limiter's "is this the owner?" check.

A store's owner never changes, so entries need no expiry, only a bound; a deleted store's
entry is harmless (its routes answer 404, and the limiter hands back what it counted).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.control.stores.models import Store

MISSING = object()  # ``peek``: not cached yet


class StoreOwners:
    def __init__(
        self, control_sessions: async_sessionmaker[AsyncSession], *, max_entries: int = 100_000
    ) -> None:
        self.control_sessions = control_sessions
        self.max_entries = max_entries
        self._owners: OrderedDict[uuid.UUID, uuid.UUID | None] = OrderedDict()

    def peek(self, store_id: uuid.UUID) -> uuid.UUID | object | None:
        """The cached owner without awaiting, or ``MISSING``."""
        owner = self._owners.get(store_id, MISSING)
        if owner is not MISSING:
            self._owners.move_to_end(store_id)
        return owner

    async def owner_of(self, store_id: uuid.UUID) -> uuid.UUID | None:
        if store_id in self._owners:
            self._owners.move_to_end(store_id)
            return self._owners[store_id]
        async with self.control_sessions() as session:
            owner = await session.scalar(select(Store.owner_id).where(Store.id == store_id))
        self._owners[store_id] = owner
        while len(self._owners) > self.max_entries:
            self._owners.popitem(last=False)
        return owner
