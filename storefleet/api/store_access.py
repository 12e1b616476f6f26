"""Who may act on a store: its owner (control plane) or its staff (tenant ``users``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy import select

from storefleet.api.deps import AnyClaims, RuntimeDep
from storefleet.commerce.users.models import TenantUser
from storefleet.control.accounts import service as accounts
from storefleet.control.accounts.models import Account
from storefleet.control.stores import service as stores
from storefleet.errors import AuthenticationFailed, Locked, NotFound, PermissionDenied
from storefleet.runtime import Runtime
from storefleet.security.tokens import TokenClaims
from storefleet.tenancy.placement import StorePlacement

STAFF_ROLES = ("owner", "admin", "staff")


@dataclass(frozen=True)
class StoreContext:
    store_id: uuid.UUID
    placement: StorePlacement
    role: str
    actor_id: uuid.UUID
    account: Account | None

    @property
    def actor_label(self) -> str:
        return f"{self.role}:{self.actor_id}"


def check_store_usable(placement: StorePlacement) -> None:
    if placement.store_status == "deleted":
        raise NotFound(stores.STORE_NOT_FOUND)
    if placement.store_status == "suspended":
        raise Locked("This store is suspended")


async def _owner_account(runtime: Runtime, claims: TokenClaims, store_id: uuid.UUID) -> Account:
    """The platform account behind ``claims``, which must own the live store ``store_id``."""
    async with runtime.control_sessions() as session:
        account = await accounts.account_for_claims(session, claims)
        await stores.owned_store(session, account, store_id)
    return account


async def store_admin(
    store_id: Annotated[uuid.UUID, Path()],
    runtime: RuntimeDep,
    claims: AnyClaims,
) -> StoreContext:
    """Owner or staff of the store in the path; any other store answers 404.

    The owner check is one short control-plane transaction; the staff check one read in
    the store. Neither stays open while the route works.
    """
    if claims.account_type in accounts.PLATFORM_ACCOUNT_TYPES:
        account = await _owner_account(runtime, claims, store_id)
        placement = await runtime.tenancy.placement(store_id)
        check_store_usable(placement)
        return StoreContext(store_id, placement, "owner", account.id, account)
    if claims.store_id != str(store_id):
        raise NotFound(stores.STORE_NOT_FOUND)
    if claims.account_type != "staff":
        raise PermissionDenied("Only the store's owner and staff can use this route")
    try:
        placement = await runtime.tenancy.placement(store_id)
    except NotFound:
        raise NotFound(stores.STORE_NOT_FOUND) from None
    check_store_usable(placement)
    async with runtime.tenancy.session(placement, write=False) as s:
        user = (
            await s.execute(select(TenantUser).where(TenantUser.id == uuid.UUID(claims.sub)))
        ).scalar_one_or_none()
    if (
        user is None
        or not user.is_active
        or user.role not in STAFF_ROLES
        or user.token_version != claims.ver
    ):
        raise AuthenticationFailed("Token is no longer valid")
    return StoreContext(store_id, placement, user.role, user.id, None)


StoreAdmin = Annotated[StoreContext, Depends(store_admin)]


async def store_owner(
    store_id: Annotated[uuid.UUID, Path()],
    runtime: RuntimeDep,
    claims: AnyClaims,
) -> StoreContext:
    """Only the owning account (placement, hostnames, deletion are the owner's)."""
    if claims.account_type not in accounts.PLATFORM_ACCOUNT_TYPES:
        if claims.store_id != str(store_id):
            raise NotFound(stores.STORE_NOT_FOUND)
        raise PermissionDenied("Only the store's owner can use this route")
    account = await _owner_account(runtime, claims, store_id)
    placement = await runtime.tenancy.placement(store_id)
    return StoreContext(store_id, placement, "owner", account.id, account)


StoreOwner = Annotated[StoreContext, Depends(store_owner)]
