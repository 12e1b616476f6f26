"""``stores export`` / ``stores import`` for a store of this control plane (its placement
looked up; the file format and the verified load are ``tenancy.exports``)."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storefleet.control.stores.models import Store
from storefleet.errors import Conflict, NotFound
from storefleet.tenancy.datacopy import (
    Location,
    TableStat,
)
from storefleet.tenancy.exports import export_store, import_store, read_manifest

if TYPE_CHECKING:
    from storefleet.control.placements.plane import Plane

log = logging.getLogger(__name__)


async def store_location(runtime: Plane, store_id: uuid.UUID) -> Location:
    where = await runtime.tenancy.placement(store_id, fresh=True)
    if where.status != "ready":
        raise Conflict("the store's data is not provisioned yet")
    return Location(
        await runtime.tenancy.admin_url(where, long_statements=True),
        where.schema,
        tuple(runtime.provisioner.migrator.tables),
    )


async def export_to_file(runtime: Plane, store_id: uuid.UUID, path: Path) -> dict[str, Any]:
    """A consistent snapshot of the store's rows in one file (writes need not stop)."""
    return await export_store(await store_location(runtime, store_id), store_id, path)


async def import_from_file(runtime: Plane, path: Path) -> tuple[uuid.UUID, dict[str, TableStat]]:
    """Restore an export into the store's current placement, which must hold none of its rows.

    The store must exist in this control plane (its id is in the manifest); creating a store
    from a file of another platform is not done here.
    """
    store_id = read_manifest(path, runtime.provisioner.migrator.tables).store_id
    async with runtime.control_sessions() as s:
        store = await s.get(Store, store_id)
    if store is None:
        raise NotFound(
            f"store {store_id} does not exist in this control plane; create it first "
            "(importing into a new store is not supported yet)"
        )
    stats = await import_store(await store_location(runtime, store_id), path)
    # Written beside any session (COPY as the owner): cached answers of the empty store go.
    await runtime.storefront_changes.announce(store_id)
    return store_id, stats
