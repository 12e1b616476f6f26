"""Purging deleted stores: their data in every placement, then what routes to them.

Deleting a store (``DELETE /api/stores/{id}``) only hides it; its data and its slug stay
until a purge. A purge removes the store's tenant data where it lives, its placement,
hostnames and Stripe keys, and marks the registry row ``purged``, which frees the slug.
The row itself stays, with its subscription and its credit ledger: those are financial
records, append-only by design. Only a deleted store can be purged; a store whose data
cannot be reached is left as it is, with the reason, and a later purge finishes it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update

from storefleet.control.audit import service as audit
from storefleet.control.billing.models import StorePaymentCredential
from storefleet.control.hostnames.models import StoreHostname
from storefleet.control.placements.loading import load_placement
from storefleet.control.placements.models import StoreDatabase
from storefleet.control.stores.models import Store
from storefleet.errors import Conflict, NotFound
from storefleet.tenancy.removal import remove_store_data

if TYPE_CHECKING:
    from storefleet.control.placements.plane import Plane

log = logging.getLogger(__name__)


# Control tables that only route to or unlock a store's data: they go with the data.
PURGED_MODELS = (StoreHostname, StorePaymentCredential, StoreDatabase)


@dataclass(frozen=True)
class PurgeResult:
    store_id: uuid.UUID
    slug: str
    error: str | None = None


async def purge_store(runtime: Plane, store_id: uuid.UUID) -> PurgeResult:
    """Remove a deleted store for good; Conflict for a store that is not deleted."""
    async with runtime.control_sessions() as s:
        store = await s.get(Store, store_id)
        if store is None:
            raise NotFound("Store not found")
        if store.purged_at is not None:
            return PurgeResult(store_id, store.slug)
        if store.deleted_at is None:
            raise Conflict("only a deleted store can be purged; delete it first", field="store")
        where = await load_placement(s, store_id)
        slug = store.slug
    if where is not None:
        try:
            await remove_store_data(runtime.tenancy, runtime.provisioner, where)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"[:1000]
            log.warning("purge of store %s left its data: %s", store_id, message)
            return PurgeResult(store_id, slug, message)
    async with runtime.control_sessions() as s, s.begin():
        for model in PURGED_MODELS:
            await s.execute(delete(model).where(model.store_id == store_id))
        await s.execute(
            update(Store)
            .where(Store.id == store_id, Store.deleted_at.is_not(None))
            .values(status="purged", purged_at=datetime.now(UTC), is_active=False)
        )
        await audit.record(
            s,
            action="store.purged",
            entity_type="store",
            entity_id=store_id,
            actor_id=None,
            actor_label="operator",
            before={"slug": slug},
        )
    runtime.tenancy.invalidate(store_id)
    return PurgeResult(store_id, slug)


async def deleted_before(runtime: Plane, days: float) -> list[uuid.UUID]:
    """Stores deleted more than ``days`` ago, oldest first."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    async with runtime.control_sessions() as s:
        rows = await s.scalars(
            select(Store.id)
            .where(
                Store.deleted_at.is_not(None),
                Store.purged_at.is_(None),
                Store.deleted_at < cutoff,
            )
            .order_by(Store.deleted_at)
        )
        return list(rows)
