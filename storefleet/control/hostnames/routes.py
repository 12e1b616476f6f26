"""The hostnames API: claims, DNS verification and the primary hostname (owner only).

Each write runs in its own transaction so the routing cache is cleared only after the
commit (other processes hear of it through the ``store_hostnames`` trigger).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.api.deps import ClientIP, RuntimeDep
from storefleet.api.store_access import CanManageHostnames, StoreContext
from storefleet.control.audit import service as audit
from storefleet.control.hostnames import service
from storefleet.control.hostnames.models import PENDING, VERIFIED, StoreHostname
from storefleet.control.hostnames.schemas import (
    DnsRecord,
    HostnameCreate,
    HostnameList,
    HostnameOut,
    HostnameUpdate,
)
from storefleet.control.hostnames.verification import DnsVerifier, record_name, record_value

router = APIRouter(prefix="/api/stores/{store_id}/hostnames", tags=["hostnames"])


def hostname_out(row: StoreHostname) -> HostnameOut:
    pending = row.status == PENDING
    return HostnameOut(
        id=row.id,
        hostname=row.hostname,
        is_primary=row.is_primary,
        status="pending" if pending else "verified",
        verified_at=row.verified_at,
        last_checked_at=row.last_checked_at,
        last_error=row.last_error,
        verification=DnsRecord(
            name=record_name(row.hostname), value=record_value(row.verification_token)
        )
        if pending
        else None,
        created_at=row.created_at,
    )


async def audit_hostname(
    session: AsyncSession, ctx: StoreContext, ip: str | None, action: str, row: StoreHostname
) -> None:
    await audit.record(
        session,
        action=action,
        entity_type="store",
        entity_id=ctx.store_id,
        actor_id=ctx.actor_id,
        actor_label=ctx.role,
        after={"hostname": row.hostname, "status": row.status, "is_primary": row.is_primary},
        client_ip=ip,
    )


@router.get("", response_model=HostnameList)
async def list_hostnames(ctx: CanManageHostnames, runtime: RuntimeDep) -> HostnameList:
    async with runtime.control_sessions() as session:
        rows = await service.list_hostnames(session, ctx.store_id)
    return HostnameList(items=[hostname_out(r) for r in rows])


def hostnames_changed(runtime: RuntimeDep, store_id: uuid.UUID) -> None:
    """At once in this process (the listener tells the others): lookups, the store's answers."""
    runtime.resolver.invalidate_hostnames()
    runtime.storefront_changes.drop(store_id)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=HostnameOut)
async def add_hostname(
    body: HostnameCreate, ctx: CanManageHostnames, runtime: RuntimeDep, ip: ClientIP
) -> HostnameOut:
    """A pending claim whose answer names the TXT record to create (test domains: verified)."""
    async with runtime.control_sessions() as session, session.begin():
        row = await service.add_hostname(
            session, ctx.store_id, body.hostname, settings=runtime.settings, primary=body.primary
        )
        await audit_hostname(session, ctx, ip, "store.hostname_added", row)
        await session.refresh(row)
        out = hostname_out(row)
    hostnames_changed(runtime, ctx.store_id)
    return out


@router.post("/{hostname_id}/verify", response_model=HostnameOut)
async def verify_hostname(
    hostname_id: uuid.UUID, ctx: CanManageHostnames, runtime: RuntimeDep, ip: ClientIP
) -> HostnameOut:
    """Look the claim's TXT record up; 409 says what was found and what is expected.

    The DNS lookup runs outside any transaction of ours; the outcome (and a failure's
    reason) is written afterwards, and only then is a failure answered.
    """
    async with runtime.control_sessions() as session:
        row = await service.store_hostname(session, ctx.store_id, hostname_id)
        if row.status == VERIFIED:
            return hostname_out(row)
        hostname, token = row.hostname, row.verification_token
    proof = await DnsVerifier.from_settings(runtime.settings).check(hostname, token)
    async with runtime.control_sessions() as session, session.begin():
        row, error = await service.record_proof(session, ctx.store_id, hostname_id, proof)
        if error is None:
            await audit_hostname(session, ctx, ip, "store.hostname_verified", row)
        out = hostname_out(row)
    if error is not None:
        raise error
    hostnames_changed(runtime, ctx.store_id)
    return out


@router.patch("/{hostname_id}", response_model=HostnameOut)
async def update_hostname(
    hostname_id: uuid.UUID,
    body: HostnameUpdate,
    ctx: CanManageHostnames,
    runtime: RuntimeDep,
    ip: ClientIP,
) -> HostnameOut:
    """Make a verified hostname the store's primary one (409 while it is pending)."""
    async with runtime.control_sessions() as session, session.begin():
        row = await service.set_primary(session, ctx.store_id, hostname_id)
        await audit_hostname(session, ctx, ip, "store.hostname_primary_set", row)
        out = hostname_out(row)
    hostnames_changed(runtime, ctx.store_id)
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
    hostnames_changed(runtime, ctx.store_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
