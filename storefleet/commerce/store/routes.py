"""The store profile and config API (owner or staff of the store)."""

from __future__ import annotations

from fastapi import APIRouter

from storefleet.api.deps import ClientIP, ControlSession, RuntimeDep
from storefleet.api.store_access import CanManageSettings, CanViewStore, StoreContext
from storefleet.api.unit_of_work import Scope, TenantReader
from storefleet.commerce.store import service
from storefleet.commerce.store.models import StoreConfig, StoreProfile
from storefleet.commerce.store.schemas import (
    ConfigUpdate,
    ProfileUpdate,
    StoreConfigOut,
    StoreProfileOut,
)
from storefleet.control.audit import service as audit
from storefleet.control.stores import service as stores

router = APIRouter(prefix="/api/stores/{store_id}", tags=["store profile"])


def config_out(config: StoreConfig) -> StoreConfigOut:
    return StoreConfigOut(
        config=config.config,
        theme=config.theme,
        layout=config.layout,
        features=config.features,
        updated_at=config.updated_at,
    )


def profile_out(profile: StoreProfile, config: StoreConfig) -> StoreProfileOut:
    fields = {
        name: getattr(profile, name) for name in StoreProfileOut.model_fields if name != "config"
    }
    return StoreProfileOut(**fields, config=config_out(config))


async def _audit(
    session: ControlSession, ctx: StoreContext, action: str, fields: list[str], ip: str | None
) -> None:
    """Which fields changed (not their values: settings and config can be large)."""
    await audit.record(
        session,
        action=action,
        entity_type="store",
        entity_id=ctx.store_id,
        actor_id=ctx.actor_id,
        actor_label=ctx.actor_label,
        after={"fields": sorted(fields)},
        client_ip=ip,
    )


@router.get("/profile", response_model=StoreProfileOut)
async def get_profile(ctx: CanViewStore, s: TenantReader) -> StoreProfileOut:
    profile, config = await service.get_profile(s, ctx.store_id)
    return profile_out(profile, config)


@router.patch("/profile", response_model=StoreProfileOut)
async def update_profile(
    body: ProfileUpdate,
    ctx: CanManageSettings,
    scope: Scope,
    runtime: RuntimeDep,
    session: ControlSession,
    ip: ClientIP,
) -> StoreProfileOut:
    changes = body.model_dump(exclude_unset=True)
    async with scope.write() as s:  # committed before the registry and the audit log hear of it
        profile, config = await service.update_profile(s, ctx.store_id, changes)
        out = profile_out(profile, config)
    if "published" in changes:
        # The storefront routes on the registry's copy; sending the change again repairs it.
        await stores.set_published(session, ctx.store_id, out.published)
        runtime.tenancy.invalidate(ctx.store_id)
    if changes:
        await _audit(session, ctx, "store.profile_updated", list(changes), ip)
    return out


@router.patch("/config", response_model=StoreConfigOut)
async def update_config(
    body: ConfigUpdate,
    ctx: CanManageSettings,
    scope: Scope,
    session: ControlSession,
    ip: ClientIP,
) -> StoreConfigOut:
    changes = body.model_dump(exclude_unset=True)
    async with scope.write() as s:
        _, config = await service.update_config(s, ctx.store_id, changes)
        out = config_out(config)
    if changes:
        await _audit(session, ctx, "store.config_updated", list(changes), ip)
    return out
