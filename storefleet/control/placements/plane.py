"""What the placement orchestration (moves, fleet migrations, purges) uses of the app.

A ``Runtime`` has all of it; naming only these parts keeps the control plane below the
assembly that builds it. ``Stores`` is the smaller part every worker that loops over stores
needs (the credit outbox, usage aggregation, key rotation): the control plane's sessions
and the way into each store, handed to per-store work as a ``StoreScope``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.config import Settings
from storefleet.tenancy.scope import StoreScope
from storefleet.tenancy.session import Tenancy

if TYPE_CHECKING:
    from storefleet.control.hostnames.storefront_changes import StorefrontChanges
    from storefleet.control.placements.provisioning import Provisioner


class Stores(Protocol):
    settings: Settings
    control_sessions: async_sessionmaker[AsyncSession]
    tenancy: Tenancy


class Plane(Stores, Protocol):
    provisioner: Provisioner

    @property
    def storefront_changes(self) -> StorefrontChanges: ...


async def store_scope(stores: Stores, store_id: uuid.UUID) -> StoreScope:
    """The unit of work of one store, placed as the control plane has it now."""
    return StoreScope(stores.tenancy, await stores.tenancy.placement(store_id))
