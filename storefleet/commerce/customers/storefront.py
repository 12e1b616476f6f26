"""Customer accounts on the storefront: sign-up, email verification, sign-in, profile,
addresses, own orders.

Routes live under ``/api/storefront/customers``; the store comes from ``Host`` /
``X-Store-Id`` / the token (``StorefrontStore``). ``CurrentCustomer`` authenticates a
customer token completely on every request: signature and expiry, not revoked, issued for
the resolved store, and its tenant user still an active customer with the same token
version. Checkout (carts/orders) depends on it too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from storefleet.api.deps import ClientIP, ControlSession, RuntimeDep, bearer_token
from storefleet.api.storefront_store import StorefrontStore
from storefleet.api.unit_of_work import Scope, TenantReader, TenantSession
from storefleet.commerce.common import PageParams, page_params
from storefleet.commerce.customers import accounts as customer_accounts
from storefleet.commerce.customers import service
from storefleet.commerce.customers.models import Customer
from storefleet.commerce.customers.schemas import (
    AddressCreate,
    AddressList,
    AddressOut,
    AddressUpdate,
    CustomerAuthOut,
    CustomerSelfOut,
    LoginIn,
    OwnOrderPage,
    RegisterIn,
    RegistrationOut,
    SelfUpdate,
    VerifyEmailIn,
)
from storefleet.control.accounts import service as accounts
from storefleet.errors import AuthenticationFailed
from storefleet.security.tokens import TokenClaims
from storefleet.tenancy.placement import StorePlacement
from storefleet.tenancy.scope import StoreScope

router = APIRouter(prefix="/api/storefront/customers", tags=["storefront customers"])

NOT_SIGNED_IN = "Sign in as a customer of this store"
NO_LONGER_VALID = customer_accounts.NO_LONGER_VALID


@dataclass(frozen=True)
class CustomerContext:
    store_id: uuid.UUID
    placement: StorePlacement
    user_id: uuid.UUID
    customer_id: uuid.UUID
    email: str
    email_verified: bool


async def current_customer(
    request: Request, placement: StorefrontStore, runtime: RuntimeDep
) -> CustomerContext:
    """A signed-in customer of the resolved store, or 401.

    The resolver has already refused a token whose ``store_id`` names another store than
    ``Host`` / ``X-Store-Id`` (400); here the token must also be a customer token for this
    very store, not revoked, and match an active customer user.
    """
    claims: TokenClaims | None = getattr(request.state, "token_claims", None)
    if claims is None:
        raise AuthenticationFailed(NOT_SIGNED_IN)
    if (
        claims.account_type != "customer"
        or claims.role != "customer"
        or claims.store_id != str(placement.store_id)
    ):
        raise AuthenticationFailed(NOT_SIGNED_IN)
    try:
        user_id = uuid.UUID(claims.sub)
    except ValueError:
        raise AuthenticationFailed(NO_LONGER_VALID) from None
    async with runtime.control_sessions() as control:
        await accounts.verify_token(control, runtime.tokens, bearer_token(request))
    async with StoreScope(runtime.tenancy, placement).read() as s:
        holder = await customer_accounts.token_holder(s, user_id, claims.ver)
    user, customer = holder.user, holder.customer
    return CustomerContext(
        placement.store_id, placement, user.id, customer.id, customer.email, user.email_verified
    )


CurrentCustomer = Annotated[CustomerContext, Depends(current_customer)]


def self_out(customer: Customer, *, email_verified: bool) -> CustomerSelfOut:
    return CustomerSelfOut(
        id=customer.id,
        email=customer.email,
        first_name=customer.first_name,
        last_name=customer.last_name,
        phone=customer.phone,
        accepts_marketing=customer.accepts_marketing,
        email_verified=email_verified,
        created_at=customer.created_at,
    )


def _auth_out(runtime: RuntimeDep, signed_in: customer_accounts.SignedIn) -> CustomerAuthOut:
    return CustomerAuthOut(
        token=customer_accounts.issue_customer_token(runtime.tokens, signed_in.user),
        expires_in=runtime.settings.token_ttl_seconds,
        customer=self_out(signed_in.customer, email_verified=signed_in.user.email_verified),
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=RegistrationOut)
async def register(
    body: RegisterIn, placement: StorefrontStore, scope: Scope, runtime: RuntimeDep
) -> RegistrationOut:
    """The same 201 whether or not the email is known here; no token (sign in to shop)."""
    await customer_accounts.register(
        scope,
        runtime.settings,
        email=str(body.email),
        password=body.password,
        first_name=body.first_name,
        last_name=body.last_name,
        accepts_marketing=body.accepts_marketing,
    )
    return RegistrationOut(email=str(body.email))


@router.post("/verify-email", response_model=CustomerAuthOut)
async def verify_email(
    body: VerifyEmailIn, placement: StorefrontStore, scope: Scope, runtime: RuntimeDep
) -> CustomerAuthOut:
    """Verify with the emailed token and a new password; signed in, earlier sessions ended."""
    signed_in = await customer_accounts.verify_email(
        scope, token=body.token, password=body.password
    )
    return _auth_out(runtime, signed_in)


@router.post("/login", response_model=CustomerAuthOut)
async def login(
    body: LoginIn, placement: StorefrontStore, scope: Scope, runtime: RuntimeDep, ip: ClientIP
) -> CustomerAuthOut:
    signed_in = await customer_accounts.authenticate(
        scope,
        email=body.email,
        password=body.password,
        throttle=runtime.login_throttle,
        client_ip=ip,
    )
    return _auth_out(runtime, signed_in)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, ctx: CurrentCustomer, control: ControlSession) -> Response:
    claims: TokenClaims = request.state.token_claims
    await accounts.revoke_claims(control, claims)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=CustomerSelfOut)
async def me(ctx: CurrentCustomer, s: TenantReader) -> CustomerSelfOut:
    customer = await service.get_customer(s, ctx.customer_id)
    return self_out(customer, email_verified=ctx.email_verified)


@router.patch("/me", response_model=CustomerSelfOut)
async def update_me(body: SelfUpdate, ctx: CurrentCustomer, s: TenantSession) -> CustomerSelfOut:
    customer = await service.update_customer(s, ctx.customer_id, body.changes())
    return self_out(customer, email_verified=ctx.email_verified)


@router.get("/me/addresses", response_model=AddressList)
async def my_addresses(ctx: CurrentCustomer, s: TenantReader) -> AddressList:
    rows = await service.list_addresses(s, ctx.customer_id)
    return AddressList(items=[AddressOut.model_validate(a) for a in rows])


@router.post("/me/addresses", status_code=status.HTTP_201_CREATED, response_model=AddressOut)
async def add_my_address(body: AddressCreate, ctx: CurrentCustomer, s: TenantSession) -> AddressOut:
    address = await service.add_address(s, ctx.store_id, ctx.customer_id, body.model_dump())
    return AddressOut.model_validate(address)


@router.patch("/me/addresses/{address_id}", response_model=AddressOut)
async def update_my_address(
    address_id: uuid.UUID, body: AddressUpdate, ctx: CurrentCustomer, s: TenantSession
) -> AddressOut:
    address = await service.update_address(
        s, ctx.customer_id, address_id, body.model_dump(exclude_unset=True)
    )
    return AddressOut.model_validate(address)


@router.delete("/me/addresses/{address_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_my_address(
    address_id: uuid.UUID, ctx: CurrentCustomer, s: TenantSession
) -> Response:
    await service.delete_address(s, ctx.customer_id, address_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me/orders", response_model=OwnOrderPage)
async def my_orders(
    ctx: CurrentCustomer, s: TenantReader, page: Annotated[PageParams, Depends(page_params)]
) -> OwnOrderPage:
    rows = await customer_accounts.own_orders(
        s, ctx.customer_id, limit=page.limit, offset=page.offset
    )
    out: OwnOrderPage = OwnOrderPage.of(rows)
    return out
