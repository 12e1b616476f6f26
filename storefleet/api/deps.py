"""FastAPI dependencies: the runtime, a control-plane transaction, the caller.

Every dependency here is ``async``: FastAPI runs sync dependencies on its thread pool, which
blocking work elsewhere may fill, and a request must never wait for a thread just to read
``app.state``. Authentication opens its own short control-plane transaction and closes it
before the route runs, so no request holds a control transaction while it works in a
store's tenant data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.accounts import service as accounts
from storefleet.control.accounts.models import Account
from storefleet.errors import AuthenticationFailed
from storefleet.runtime import Runtime
from storefleet.security.tokens import TokenClaims


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def control_session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """One control-plane transaction for a route's own control work, committed on success.

    The connection is taken at the first statement, so a route that works in a tenant first
    and records in the control plane after holds no control transaction meanwhile.
    """
    async with runtime.control_sessions() as session, session.begin():
        yield session


ControlSession = Annotated[AsyncSession, Depends(control_session)]


async def client_ip(request: Request) -> str | None:
    """The TCP peer, or with ``proxy_headers`` the address a trusted proxy forwarded."""
    return request.client.host if request.client else None


ClientIP = Annotated[str | None, Depends(client_ip)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Missing or malformed Authorization header")
    return token.strip()


@dataclass
class Caller:
    account: Account
    claims: TokenClaims


async def current_caller(request: Request, runtime: RuntimeDep) -> Caller:
    async with runtime.control_sessions() as session:
        account, claims = await accounts.resolve_token(
            session, runtime.tokens, bearer_token(request)
        )
    return Caller(account=account, claims=claims)


CurrentCaller = Annotated[Caller, Depends(current_caller)]


async def token_claims(request: Request, runtime: RuntimeDep) -> TokenClaims:
    """Any valid, unrevoked token: account, staff or customer (subject checked later)."""
    async with runtime.control_sessions() as session:
        return await accounts.verify_token(session, runtime.tokens, bearer_token(request))


AnyClaims = Annotated[TokenClaims, Depends(token_claims)]
