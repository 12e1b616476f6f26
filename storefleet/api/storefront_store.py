"""The store of a public storefront request, as a FastAPI dependency (token optional).

``Host``, ``X-Store-Id`` and the token's ``store_id`` are resolved by the control plane's
``StoreResolver`` (``storefleet.control.hostnames.resolver``); this module reads them off
the request and decides whether an unpublished store may be previewed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from storefleet.api.unit_of_work import authorize_store
from storefleet.control.accounts.service import PLATFORM_ACCOUNT_TYPES, verify_token
from storefleet.control.hostnames.resolver import STORE_HEADER, STORE_NOT_FOUND
from storefleet.errors import AuthenticationFailed, NotFound
from storefleet.security.tokens import TokenClaims, TokenError
from storefleet.tenancy.placement import StorePlacement

if TYPE_CHECKING:
    from storefleet.runtime import Runtime


def optional_claims(request: Request, runtime: Runtime) -> TokenClaims | None:
    """A bearer token's verified claims when one is sent (signature and expiry only).

    Routing needs only the ``store_id`` claim; routes that act for the token's subject
    authenticate it fully (revocation, token version) themselves.
    """
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed("Malformed Authorization header")
    try:
        return runtime.tokens.verify(token.strip())
    except TokenError as exc:
        raise AuthenticationFailed(str(exc)) from None


async def storefront_store(request: Request) -> StorePlacement:
    """The store of a public storefront request (token optional).

    An unpublished store's storefront answers 404 like a missing one, except to its own
    owner and staff (their token, not revoked), who preview it before launch.
    """
    runtime: Runtime = request.app.state.runtime
    claims = optional_claims(request, runtime)
    request.state.token_claims = claims
    placement = await runtime.resolver.resolve(
        host=request.headers.get("host"),
        store_header=request.headers.get(STORE_HEADER),
        token_store_id=claims.store_id if claims else None,
    )
    if not placement.published and not await _may_preview(runtime, placement, claims, request):
        raise NotFound(STORE_NOT_FOUND)
    authorize_store(request, placement)
    return placement


async def _may_preview(
    runtime: Runtime, placement: StorePlacement, claims: TokenClaims | None, request: Request
) -> bool:
    if claims is None:
        return False
    staff = claims.account_type == "staff" and claims.store_id == str(placement.store_id)
    owner = claims.account_type in PLATFORM_ACCOUNT_TYPES and claims.sub == str(placement.owner_id)
    if not (staff or owner):
        return False
    raw = request.headers.get("authorization", "").partition(" ")[2].strip()
    async with runtime.control_sessions() as session:
        try:
            await verify_token(session, runtime.tokens, raw)
        except AuthenticationFailed:
            return False
    return True


StorefrontStore = Annotated[StorePlacement, Depends(storefront_store)]
