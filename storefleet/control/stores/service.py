"""The store registry: create, list, rename and soft-delete stores an account owns."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.accounts.models import Account
from storefleet.control.audit import service as audit
from storefleet.control.billing import service as billing
from storefleet.control.placements.models import StoreDatabase
from storefleet.control.placements.provisioning import Provisioner
from storefleet.control.stores.models import Store
from storefleet.db.constraints import flush
from storefleet.db.queries import Rows, get_or_404, paged
from storefleet.errors import Conflict, PermissionDenied
from storefleet.schemas import apply_changes

STORE_NOT_FOUND = "Store not found"


def _slug_taken() -> Conflict:
    return Conflict("A store with this slug already exists", field="slug")


async def create_store(
    session: AsyncSession,
    provisioner: Provisioner,
    owner: Account,
    *,
    name: str,
    slug: str,
    placement: str,
    server: str | None = None,
    max_stores: int,
) -> tuple[Store, StoreDatabase]:
    """Register a store and its planned placement (``pending``); provisioning runs after commit."""
    # The account row, locked, serializes this account's store creations: two at once
    # cannot both pass the count below.
    await session.execute(select(Account.id).where(Account.id == owner.id).with_for_update())
    live = await session.scalar(
        select(func.count()).select_from(Store).where(Store.owner_id == owner.id, Store.live())
    )
    if (live or 0) >= max_stores:
        raise PermissionDenied(
            f"This account already has the maximum of {max_stores} stores", field="stores"
        )
    if (
        await session.scalar(select(Store.id).where(Store.slug == slug, Store.purged_at.is_(None)))
        is not None
    ):
        raise _slug_taken()
    store = Store(owner_id=owner.id, name=name, slug=slug, status="pending")
    session.add(store)
    await flush(session, _slug_taken(), savepoint=True)
    row = await provisioner.plan(session, store, placement, server_name=server)
    await billing.start_trial(session, store.id, owner.id)
    await audit.record(
        session,
        action="store.created",
        entity_type="store",
        entity_id=store.id,
        actor_id=owner.id,
        actor_label="owner",
        after={"name": name, "slug": slug, "placement": placement},
    )
    return store, row


async def list_stores(
    session: AsyncSession, owner: Account, *, limit: int, offset: int
) -> Rows[tuple[Store, StoreDatabase | None]]:
    """The owner's live stores with their placements (a store has at most one)."""
    stmt = (
        select(Store, StoreDatabase)
        .outerjoin(StoreDatabase, StoreDatabase.store_id == Store.id)
        .where(Store.owner_id == owner.id, Store.live())
        .order_by(Store.created_at, Store.id)
    )
    return await paged(session, cast("Select[Any]", stmt), limit=limit, offset=offset)


async def owned_store(
    session: AsyncSession, owner: Account, store_id: uuid.UUID, *, for_update: bool = False
) -> Store:
    """The caller's live store; another account's store answers exactly like a missing one."""
    return await get_or_404(
        session,
        Store,
        store_id,
        missing=STORE_NOT_FOUND,
        lock=for_update,
        where=[Store.owner_id == owner.id, Store.live()],
    )


async def store_database(session: AsyncSession, store_id: uuid.UUID) -> StoreDatabase | None:
    return await session.get(StoreDatabase, store_id)


async def store_and_database(
    session: AsyncSession, store_id: uuid.UUID
) -> tuple[Store, StoreDatabase | None]:
    """A store the caller already holds, read again with its placement (after a change)."""
    store = await session.get(Store, store_id)
    assert store is not None
    return store, await store_database(session, store_id)


async def update_store(
    session: AsyncSession, owner: Account, store: Store, changes: dict[str, object]
) -> Store:
    before = {k: getattr(store, k) for k in changes}
    if "slug" in changes and changes["slug"] != store.slug:
        taken = await session.scalar(
            select(Store.id).where(
                Store.slug == changes["slug"], Store.id != store.id, Store.purged_at.is_(None)
            )
        )
        if taken is not None:
            raise _slug_taken()
    apply_changes(store, changes)
    await flush(session, _slug_taken(), savepoint=True)
    await audit.record(
        session,
        action="store.updated",
        entity_type="store",
        entity_id=store.id,
        actor_id=owner.id,
        actor_label="owner",
        before=before,
        after=dict(changes),
    )
    return store


async def soft_delete_store(session: AsyncSession, owner: Account, store: Store) -> None:
    """Hide the store at once; its data stays until a purge step removes it."""
    store.deleted_at = datetime.now(UTC)
    store.status = "deleted"
    store.is_active = False
    await session.flush()
    await audit.record(
        session,
        action="store.deleted",
        entity_type="store",
        entity_id=store.id,
        actor_id=owner.id,
        actor_label="owner",
    )


async def set_published(session: AsyncSession, store_id: uuid.UUID, published: bool) -> None:
    """Mirror the tenant profile's ``published`` (what storefront routing reads)."""
    await session.execute(update(Store).where(Store.id == store_id).values(published=published))
