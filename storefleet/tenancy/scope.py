"""One store's unit of work, for code that needs more than the one transaction a route gets.

A service takes an ``AsyncSession`` and never sees a placement, an engine or ``Tenancy``;
the few that must work in two short transactions (a sign-in reads the user, runs argon2
outside any transaction, then writes) take a ``StoreScope`` instead, and the CLI and
workers open their transactions through one too. It is bound to one store: nothing
reachable from it can enter another.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.tenancy.placement import StorePlacement

if TYPE_CHECKING:
    from storefleet.tenancy.reads import ReadQuery
    from storefleet.tenancy.session import Tenancy


@dataclass(frozen=True)
class StoreScope:
    tenancy: Tenancy
    placement: StorePlacement

    @property
    def store_id(self) -> uuid.UUID:
        return self.placement.store_id

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only transaction in the store (allowed while a move pauses writes)."""
        async with self.tenancy.session(self.placement, write=False) as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction in the store, committed when the block ends without error."""
        async with self.tenancy.session(self.placement) as session:
            yield session

    async def fetch(
        self, query: ReadQuery, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The rows of one precompiled read in the store, in one round trip (hot paths)."""
        return await self.tenancy.read(self.placement, query, params)
