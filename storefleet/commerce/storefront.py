"""Public storefront routes about the store itself, resolved from Host / X-Store-Id / token."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

from storefleet.api.storefront_store import storefront_store as resolve_storefront_store
from storefleet.commerce.store.schemas import StorefrontStoreOut
from storefleet.commerce.store.service import public_profile
from storefleet.tenancy.scope import StoreScope

router = APIRouter(prefix="/api/storefront", tags=["storefront"])


def _json_default(value: Any) -> str:
    return str(value)  # UUIDs: every other public column is already a JSON type


@router.get(
    "/store",
    response_model=None,
    responses={200: {"model": StorefrontStoreOut, "description": "The store's public profile"}},
)
async def storefront_store(request: Request) -> Response:
    """Hot path: a cached resolution, one round trip to the tenant data, a cached hostname.

    No dependency graph, ORM or response-model validation: the columns are fixed by
    ``PUBLIC_COLUMNS`` (the same fields, in the same order, as ``StorefrontStoreOut``).
    """
    placement = await resolve_storefront_store(request)
    runtime = request.app.state.runtime
    body = await public_profile(StoreScope(runtime.tenancy, placement))
    body["hostname"] = await runtime.resolver.primary_hostname(placement.store_id)
    return Response(
        json.dumps(body, default=_json_default, separators=(",", ":")),
        media_type="application/json",
    )
