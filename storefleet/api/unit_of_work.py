"""The store's transaction for a route, opened only after the route's caller is authorized.

A route declares who may call it first (a ``Can…`` dependency of
``storefleet.api.store_access``, or ``StorefrontStore`` for the public storefront), then
``TenantSession`` (a write transaction) or ``TenantReader`` (read-only) and passes the
session to services. The authorizing dependency records the store on the request; these
refuse to open anything for a request no dependency authorized, so a route cannot reach a
store's data by forgetting its check. The transaction commits when the route returns and
rolls back when it raises, before the response is sent (``scope="function"``), so a failed
commit is the route's error, not a lost write behind a 200.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.api.deps import RuntimeDep
from storefleet.tenancy.placement import StorePlacement
from storefleet.tenancy.scope import StoreScope

AUTHORIZED_STORE = "authorized_store"


class UnauthorizedUnitOfWork(RuntimeError):
    """A route asked for a store's session without an authorizing dependency before it."""


def authorize_store(request: Request, placement: StorePlacement) -> None:
    """Record that this request may work in ``placement``'s store (authorizing deps call it)."""
    setattr(request.state, AUTHORIZED_STORE, placement)


def authorized_placement(request: Request) -> StorePlacement:
    placement = getattr(request.state, AUTHORIZED_STORE, None)
    if not isinstance(placement, StorePlacement):
        raise UnauthorizedUnitOfWork(
            f"{request.method} {request.url.path}: declare the route's Can… or StorefrontStore "
            "dependency before TenantSession / TenantReader / Scope"
        )
    return placement


async def _write_session(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    placement = authorized_placement(request)
    async with runtime.tenancy.session(placement) as session:
        yield session


async def _read_session(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    placement = authorized_placement(request)
    async with runtime.tenancy.session(placement, write=False) as session:
        yield session


async def _scope(request: Request, runtime: RuntimeDep) -> StoreScope:
    placement = authorized_placement(request)
    return StoreScope(runtime.tenancy, placement)


TenantSession = Annotated[AsyncSession, Depends(_write_session, scope="function")]
TenantReader = Annotated[AsyncSession, Depends(_read_session, scope="function")]
Scope = Annotated[StoreScope, Depends(_scope)]
