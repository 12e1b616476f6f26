"""Public storefront routes about the store itself, resolved from Host / X-Store-Id / token."""

from __future__ import annotations

from fastapi import APIRouter

from storefleet.api.deps import RuntimeDep
from storefleet.commerce.store import service
from storefleet.commerce.store.schemas import StorefrontStoreOut
from storefleet.tenancy.resolver import StorefrontStore

router = APIRouter(prefix="/api/storefront", tags=["storefront"])


@router.get("/store", response_model=StorefrontStoreOut)
async def storefront_store(placement: StorefrontStore, runtime: RuntimeDep) -> StorefrontStoreOut:
    """Hot path: a cached resolution, a cached primary hostname, one read-only tenant query."""
    async with runtime.tenancy.session(placement, write=False) as s:
        profile = await service.public_profile(s, placement.store_id)
    hostname = await runtime.resolver.primary_hostname(placement.store_id)
    return StorefrontStoreOut(**profile, hostname=hostname)
