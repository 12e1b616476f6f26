"""The stores API: the caller's stores, created, listed, renamed, deleted, provisioned."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.api.deps import ControlSession, CurrentCaller, RuntimeDep
from storefleet.api.store_access import CanDeleteStore, CanManageStore
from storefleet.control.placements.models import StoreDatabase
from storefleet.control.stores import service
from storefleet.control.stores.models import Store
from storefleet.control.stores.schemas import StoreCreate, StoreList, StoreOut, StoreUpdate
from storefleet.tenancy.scope import StoreScope

router = APIRouter(prefix="/api/stores", tags=["stores"])


def store_out(store: Store, db: StoreDatabase | None) -> StoreOut:
    return StoreOut(
        id=store.id,
        name=store.name,
        slug=store.slug,
        placement=db.placement if db else "none",
        status=store.status,
        provisioning_status=db.status if db else "none",
        created_at=store.created_at,
    )


async def reload_store(sessions: async_sessionmaker[AsyncSession], store_id: uuid.UUID) -> StoreOut:
    """The store as it is now, read in a control transaction of its own."""
    async with sessions() as session:
        return store_out(*await service.store_and_database(session, store_id))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StoreOut)
async def create_store(body: StoreCreate, caller: CurrentCaller, runtime: RuntimeDep) -> StoreOut:
    """Create a store and provision its data; a failed provisioning is retried later."""
    from storefleet.control.hostnames import service as hostnames

    settings = runtime.settings
    async with runtime.control_sessions() as session, session.begin():
        store, _ = await service.create_store(
            session,
            runtime.provisioner,
            caller.account,
            name=body.name,
            slug=body.slug,
            placement=body.placement or settings.default_placement,
            server=body.server,
            max_stores=settings.max_stores_per_account,
        )
        if body.hostname:
            # Primary as soon as it is verified (at once for a test domain in development).
            await hostnames.add_hostname(session, store.id, body.hostname, settings=settings)
        store_id = store.id
    try:
        await runtime.provisioner.provision(store_id)
    except Exception:  # noqa: S110 - recorded on the store; retried by /provision or at start-up
        pass
    return await reload_store(runtime.control_sessions, store_id)


@router.get("", response_model=StoreList)
async def list_stores(
    caller: CurrentCaller,
    session: ControlSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> StoreList:
    rows = await service.list_stores(session, caller.account, limit=limit, offset=offset)
    page: StoreList = StoreList.of(rows, lambda row: store_out(*row))
    return page


@router.get("/{store_id}", response_model=StoreOut)
async def get_store(
    store_id: uuid.UUID, caller: CurrentCaller, session: ControlSession
) -> StoreOut:
    store = await service.owned_store(session, caller.account, store_id)
    return store_out(store, await service.store_database(session, store_id))


@router.patch("/{store_id}", response_model=StoreOut)
async def update_store(body: StoreUpdate, ctx: CanManageStore, runtime: RuntimeDep) -> StoreOut:
    """Rename in the control plane (committed), then follow in the store's own profile.

    The control transaction ends before the tenant write: a store whose data is slow or
    unreachable never holds the registry row locked. A failed follow-up is completed by
    sending the same change again.
    """
    assert ctx.account is not None
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if changes:
        async with runtime.control_sessions() as session, session.begin():
            store = await service.owned_store(session, ctx.account, ctx.store_id, for_update=True)
            await service.update_store(session, ctx.account, store, changes)
        runtime.tenancy.invalidate(ctx.store_id)
        from storefleet.commerce.store import service as profiles

        await profiles.sync_identity(
            StoreScope(runtime.tenancy, ctx.placement),
            name=changes.get("name"),
            slug=changes.get("slug"),
        )
    runtime.tenancy.invalidate(ctx.store_id)
    return await reload_store(runtime.control_sessions, ctx.store_id)


@router.delete("/{store_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_store(
    ctx: CanDeleteStore, session: ControlSession, runtime: RuntimeDep
) -> Response:
    assert ctx.account is not None
    store = await service.owned_store(session, ctx.account, ctx.store_id, for_update=True)
    await service.soft_delete_store(session, ctx.account, store)
    runtime.tenancy.invalidate(ctx.store_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{store_id}/provision", response_model=StoreOut)
async def retry_provisioning(ctx: CanManageStore, runtime: RuntimeDep) -> StoreOut:
    """Run provisioning again: every step is idempotent, so this completes a failed one."""
    try:
        await runtime.provisioner.provision(ctx.store_id)
    except Exception:  # noqa: S110 - the error is recorded on the store and shown below
        pass
    return await reload_store(runtime.control_sessions, ctx.store_id)
