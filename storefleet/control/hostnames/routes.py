"""The hostnames API: which hostnames route to a store (owner only)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from storefleet.api.deps import ClientIP, RuntimeDep
from storefleet.api.store_access import CanManageHostnames
from storefleet.control.audit import service as audit
from storefleet.control.hostnames import service
from storefleet.control.hostnames.models import StoreHostname
from storefleet.control.hostnames.schemas import HostnameCreate, HostnameList, HostnameOut

router = APIRouter(prefix="/api/stores/{store_id}/hostnames", tags=["hostnames"])


def hostname_out(row: StoreHostname) -> HostnameOut:
    return HostnameOut(
        id=row.id, hostname=row.hostname, is_primary=row.is_primary, created_at=row.created_at
    )


@router.get("", response_model=HostnameList)
async def list_hostnames(ctx: CanManageHostnames, runtime: RuntimeDep) -> HostnameList:
    async with runtime.control_sessions() as session:
        rows = await service.list_hostnames(session, ctx.store_id)
    return HostnameList(items=[hostname_out(r) for r in rows])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=HostnameOut)
async def add_hostname(
    body: HostnameCreate, ctx: CanManageHostnames, runtime: RuntimeDep, ip: ClientIP
) -> HostnameOut:
    """Own transaction so the routing cache is cleared only after the commit."""
    async with runtime.control_sessions() as session, session.begin():
        row = await service.add_hostname(session, ctx.store_id, body.hostname, primary=body.primary)
        await audit.record(
            session,
            action="store.hostname_added",
            entity_type="store",
            entity_id=ctx.store_id,
            actor_id=ctx.actor_id,
            actor_label=ctx.role,
            after={"hostname": row.hostname, "is_primary": row.is_primary},
            client_ip=ip,
        )
        await session.refresh(row)
        out = hostname_out(row)
    runtime.resolver.invalidate_hostnames()
    return out


@router.delete("/{hostname_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_hostname(
    hostname_id: uuid.UUID, ctx: CanManageHostnames, runtime: RuntimeDep, ip: ClientIP
) -> Response:
    async with runtime.control_sessions() as session, session.begin():
        removed = await service.remove_hostname(session, ctx.store_id, hostname_id)
        await audit.record(
            session,
            action="store.hostname_removed",
            entity_type="store",
            entity_id=ctx.store_id,
            actor_id=ctx.actor_id,
            actor_label=ctx.role,
            before={"hostname": removed},
            client_ip=ip,
        )
    runtime.resolver.invalidate_hostnames()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
