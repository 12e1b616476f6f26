"""The tenant's store profile and config: read, edited, and kept in step with the registry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.store.models import StoreConfig, StoreProfile
from storefleet.errors import NotFound
from storefleet.schemas import apply_changes
from storefleet.tenancy.reads import ReadQuery
from storefleet.tenancy.scope import StoreScope

PROFILE_NOT_FOUND = "Store not found"

PUBLIC_COLUMNS = (
    StoreProfile.id,
    StoreProfile.name,
    StoreProfile.slug,
    StoreProfile.description,
    StoreProfile.logo_url,
    StoreProfile.banner_url,
    StoreProfile.theme_color,
    StoreProfile.currency,
    StoreProfile.timezone,
    StoreProfile.contact_email,
    StoreProfile.website_url,
    StoreProfile.published,
)
# The storefront's view of the profile: compiled once, run per request (never cached).
PUBLIC_PROFILE = ReadQuery.compile(
    select(*PUBLIC_COLUMNS).where(
        StoreProfile.store_id == bindparam("store_id"), StoreProfile.live()
    )
)


async def get_profile(
    session: AsyncSession, store_id: uuid.UUID, *, for_update: bool = False
) -> tuple[StoreProfile, StoreConfig]:
    stmt = (
        select(StoreProfile, StoreConfig)
        .join(
            StoreConfig,
            (StoreConfig.store_id == StoreProfile.store_id)
            & (StoreConfig.profile_id == StoreProfile.id),
        )
        .where(StoreProfile.store_id == store_id, StoreProfile.live())
    )
    if for_update:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).first()
    if row is None:
        raise NotFound(PROFILE_NOT_FOUND)
    return row[0], row[1]


async def update_profile(
    session: AsyncSession, store_id: uuid.UUID, changes: dict[str, Any]
) -> tuple[StoreProfile, StoreConfig]:
    """Apply validated changes; publishing stamps ``published_at``, unpublishing clears it."""
    profile, config = await get_profile(session, store_id, for_update=True)
    if "published" in changes:
        if changes["published"] and not profile.published:
            profile.published_at = datetime.now(UTC)
        elif not changes["published"]:
            profile.published_at = None
    apply_changes(profile, changes)
    if changes:
        profile.updated_at = datetime.now(UTC)
    await session.flush()
    return profile, config


async def update_config(
    session: AsyncSession, store_id: uuid.UUID, changes: dict[str, Any]
) -> tuple[StoreProfile, StoreConfig]:
    profile, config = await get_profile(session, store_id, for_update=True)
    apply_changes(config, changes)
    if changes:
        config.updated_at = datetime.now(UTC)
    await session.flush()
    return profile, config


async def sync_identity(scope: StoreScope, *, name: str | None, slug: str | None) -> None:
    """Copy a registry rename into the tenant profile.

    Skipped while the data is not ready: provisioning seeds the profile from the registry.
    """
    changes = {k: v for k, v in (("name", name), ("slug", slug)) if v is not None}
    if not changes or scope.placement.status != "ready":
        return
    async with scope.write() as s:
        profile, _ = await get_profile(s, scope.store_id, for_update=True)
        apply_changes(profile, changes)
        profile.updated_at = datetime.now(UTC)


async def public_profile(scope: StoreScope) -> dict[str, Any]:
    """The store's public profile as JSON-ready columns, in one round trip (a hot path)."""
    rows = await scope.fetch(PUBLIC_PROFILE, {"store_id": scope.store_id})
    if not rows:
        raise NotFound(PROFILE_NOT_FOUND)
    return rows[0]
