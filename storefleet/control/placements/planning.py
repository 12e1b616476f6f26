"""Where a new store's data goes: the placement row's values, decided from the servers."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.placements.models import PLACEMENTS, StoreDatabase
from storefleet.control.servers import service as servers
from storefleet.control.stores.models import Store
from storefleet.errors import Conflict, InvalidInput
from storefleet.tenancy import ddl
from storefleet.tenancy.databases import PlatformDatabases


async def plan(
    session: AsyncSession,
    databases: PlatformDatabases,
    store: Store,
    placement: str,
    *,
    server_name: str | None = None,
) -> StoreDatabase:
    """Decide where a new store goes and record it as ``pending`` (same transaction)."""
    if placement not in PLACEMENTS:
        raise InvalidInput(f"placement must be one of {', '.join(PLACEMENTS)}", field="placement")
    values = await target(session, databases, store.id, placement, server_name=server_name)
    row = StoreDatabase(store_id=store.id, status="pending", **values)
    session.add(row)
    await session.flush()
    return row


async def target(
    session: AsyncSession,
    databases: PlatformDatabases,
    store_id: uuid.UUID,
    placement: str,
    *,
    server_name: str | None = None,
) -> dict[str, object]:
    """Column values of a store's placement row for ``placement`` (no writes)."""
    if placement == "database":
        server = (
            await servers.get_server(session, server_name)
            if server_name
            else await servers.least_loaded_server(session)
        )
        if server.status != "active":
            raise Conflict(f"server {server.name} does not take new stores", field="server")
        return {
            "placement": "database",
            "server_id": server.id,
            "database_name": ddl.store_database_name(store_id),
            "schema_name": ddl.DATABASE_SCHEMA,
        }
    if server_name:
        raise InvalidInput("a server can only be chosen for the database placement", field="server")
    default = await servers.default_server(session)
    return {
        "placement": placement,
        "server_id": default.id,
        "database_name": databases.tenants,
        "schema_name": ddl.POOL_SCHEMA if placement == "pool" else ddl.store_schema_name(store_id),
    }
