"""Moving a store's data: between placements and servers, or onto the owner's own database."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from storefleet.api.deps import RuntimeDep
from storefleet.api.store_access import CanManagePlacement, check_store_usable
from storefleet.control.placements.move_plan import external_target
from storefleet.control.placements.moves import move_store
from storefleet.control.stores.routes import reload_store
from storefleet.control.stores.schemas import (
    ConnectDatabase,
    ConnectDatabaseOut,
    MoveRequest,
)
from storefleet.tenancy.inspection import inspect_external_database

router = APIRouter(prefix="/api/stores", tags=["stores"])


@router.post("/{store_id}/move")
async def move(body: MoveRequest, ctx: CanManagePlacement, runtime: RuntimeDep) -> dict[str, Any]:
    """Copy the store's rows to another placement or server; writes pause while it runs."""
    check_store_usable(ctx.placement)
    report = await move_store(
        runtime, ctx.store_id, placement=body.placement, server_name=body.server
    )
    out = await reload_store(runtime.control_sessions, ctx.store_id)
    return {"store": out.model_dump(mode="json"), "move": report.as_dict()}


@router.post("/{store_id}/connect-database", response_model=ConnectDatabaseOut)
async def connect_database(
    body: ConnectDatabase, ctx: CanManagePlacement, runtime: RuntimeDep
) -> ConnectDatabaseOut:
    """Move the store onto a PostgreSQL database its owner brings (Supabase or any URL)."""
    check_store_usable(ctx.placement)
    report, checked = await inspect_external_database(
        body.database_url,
        allow_private=runtime.settings.private_databases_allowed,
        policy=runtime.tenancy.limits.foreign,
    )
    # Every connection of the move goes to the addresses the check just passed.
    pinned = runtime.tenancy.limits.foreign.apply(checked.url, checked.addresses)
    target = await external_target(
        runtime, ctx.store_id, pinned, can_create_role=report.can_create_role
    )
    await move_store(runtime, ctx.store_id, placement="database", external=target)
    return ConnectDatabaseOut(
        store=await reload_store(runtime.control_sessions, ctx.store_id),
        server_version=report.server_version_text,
        behind_pooler=report.behind_pooler,
        isolation=report.isolation,
        isolation_note=report.isolation_note,
    )
