"""The staff API of a store, and staff sign-in / sign-out."""

from __future__ import annotations

import functools
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from storefleet.api.deps import AnyClaims, ClientIP, ControlSession, RuntimeDep
from storefleet.api.store_access import CanManageStaff, CanViewStaff
from storefleet.api.unit_of_work import Scope, TenantReader
from storefleet.commerce.users import service
from storefleet.commerce.users.schemas import (
    ListedRole,
    StaffAuthOut,
    StaffCreate,
    StaffList,
    StaffLoginIn,
    StaffOut,
)
from storefleet.errors import NotFound
from storefleet.tenancy.scope import StoreScope

router = APIRouter(prefix="/api/stores/{store_id}/staff", tags=["staff"])
auth_router = APIRouter(prefix="/api/auth/staff", tags=["auth"])


@router.get("", response_model=StaffList)
async def list_staff(
    ctx: CanViewStaff,
    s: TenantReader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    role: ListedRole | None = None,
    include_inactive: bool = False,
) -> StaffList:
    rows = await service.list_staff(
        s, ctx.store_id, role=role, include_inactive=include_inactive, limit=limit, offset=offset
    )
    out: StaffList = StaffList.of(rows)
    return out


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StaffOut)
async def add_staff(
    body: StaffCreate,
    ctx: CanManageStaff,
    scope: Scope,
    control: ControlSession,
    ip: ClientIP,
) -> StaffOut:
    user = await service.add_staff(
        scope,
        actor_role=ctx.role,
        email=str(body.email),
        password=body.password,
        first_name=body.first_name,
        last_name=body.last_name,
        role=body.role,
    )
    await service.record_change(
        control,
        action="store_user.added",
        user=user,
        actor_id=ctx.actor_id,
        actor_label=ctx.actor_label,
        client_ip=ip,
    )
    return StaffOut.model_validate(user)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_staff(
    user_id: uuid.UUID,
    ctx: CanManageStaff,
    scope: Scope,
    control: ControlSession,
    ip: ClientIP,
) -> Response:
    async with scope.write() as s:  # committed before the audit entry is written
        user = await service.remove_staff(s, ctx.store_id, actor_role=ctx.role, user_id=user_id)
    await service.record_change(
        control,
        action="store_user.removed",
        user=user,
        actor_id=ctx.actor_id,
        actor_label=ctx.actor_label,
        client_ip=ip,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _store_scope(runtime: RuntimeDep, store_id: uuid.UUID) -> StoreScope | None:
    """The store a sign-in names, or None when no such store exists (the same 401)."""
    try:
        placement = await runtime.tenancy.placement(store_id)
    except NotFound:
        return None
    return StoreScope(runtime.tenancy, placement)


@auth_router.post("/login", response_model=StaffAuthOut)
async def staff_login(body: StaffLoginIn, runtime: RuntimeDep, ip: ClientIP) -> StaffAuthOut:
    user = await service.authenticate_staff(
        functools.partial(_store_scope, runtime),
        store_id=body.store_id,
        email=body.email,
        password=body.password,
        throttle=runtime.login_throttle,
        client_ip=ip,
    )
    return StaffAuthOut(
        token=service.issue_staff_token(runtime.tokens, user),
        expires_in=runtime.settings.token_ttl_seconds,
        store_id=body.store_id,
        user=StaffOut.model_validate(user),
    )


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def staff_logout(claims: AnyClaims, control: ControlSession) -> Response:
    await service.logout_staff(control, claims)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
