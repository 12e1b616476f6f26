"""The storefront cart API: ``/api/storefront/carts/{token}`` — the token is the cart's bearer.

The store comes from ``Host`` / ``X-Store-Id`` / the token's ``store_id`` (they must agree);
the cart is looked up inside that store only. An optional customer token links the cart to
the signed-in customer. Its checkout is the orders domain's (``orders.checkout_routes``).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from storefleet.api.deps import RuntimeDep
from storefleet.api.storefront_store import StorefrontStore
from storefleet.api.unit_of_work import TenantReader, TenantSession
from storefleet.commerce.carts import service
from storefleet.commerce.carts.schemas import (
    AddressesIn,
    CartCreate,
    CartOut,
    CodeIn,
    ItemAdd,
    ItemUpdate,
    ShippingMethodIn,
    ShippingOptionList,
    ShippingOptionOut,
)
from storefleet.commerce.customers.storefront import CustomerContext, current_customer
from storefleet.security.tokens import TokenClaims

router = APIRouter(prefix="/api/storefront/carts", tags=["storefront carts"])


async def optional_customer(
    request: Request, placement: StorefrontStore, runtime: RuntimeDep
) -> CustomerContext | None:
    """A customer token is checked in full (``current_customer``); no token or a staff /
    owner token means a guest."""
    claims: TokenClaims | None = getattr(request.state, "token_claims", None)
    if claims is None or claims.account_type != "customer":
        return None
    return await current_customer(request, placement, runtime)


SignedInCustomer = Annotated[CustomerContext | None, Depends(optional_customer)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CartOut)
async def create_cart(
    placement: StorefrontStore,
    signed_in: SignedInCustomer,
    s: TenantSession,
    body: CartCreate | None = None,
) -> CartOut:
    customer = await service.load_customer(
        s, placement.store_id, signed_in.customer_id if signed_in else None
    )
    cart = await service.create_cart(
        s, placement.store_id, currency=body.currency if body else None, customer=customer
    )
    return service.cart_out(cart, await service.refresh(s, cart, []))


@router.get("/{token}", response_model=CartOut)
async def get_cart(token: str, placement: StorefrontStore, s: TenantReader) -> CartOut:
    cart = await service.get_cart(s, token)
    return service.cart_out(cart, await service.totals_of(s, cart))


@router.post("/{token}/items", status_code=status.HTTP_201_CREATED, response_model=CartOut)
async def add_item(
    token: str, body: ItemAdd, placement: StorefrontStore, s: TenantSession
) -> CartOut:
    cart = await service.open_cart(s, token)
    items, catalog = await service.add_item(s, cart, body.variant_id, body.quantity)
    return service.cart_out(cart, await service.refresh(s, cart, items, catalog=catalog))


@router.patch("/{token}/items/{item_id}", response_model=CartOut)
async def update_item(
    token: str,
    item_id: uuid.UUID,
    body: ItemUpdate,
    placement: StorefrontStore,
    s: TenantSession,
) -> CartOut:
    cart = await service.open_cart(s, token)
    await service.update_item(s, cart, item_id, body.quantity)
    return service.cart_out(cart, await service.refresh(s, cart))


@router.delete("/{token}/items/{item_id}", response_model=CartOut)
async def remove_item(
    token: str, item_id: uuid.UUID, placement: StorefrontStore, s: TenantSession
) -> CartOut:
    cart = await service.open_cart(s, token)
    await service.remove_item(s, cart, item_id)
    return service.cart_out(cart, await service.refresh(s, cart))


@router.post("/{token}/codes", response_model=CartOut)
async def apply_code(
    token: str, body: CodeIn, placement: StorefrontStore, s: TenantSession
) -> CartOut:
    cart = await service.open_cart(s, token)
    await service.add_code(s, cart, body.code)
    return service.cart_out(cart, await service.refresh(s, cart))


@router.delete("/{token}/codes/{code}", response_model=CartOut)
async def remove_code(
    token: str, code: str, placement: StorefrontStore, s: TenantSession
) -> CartOut:
    cart = await service.open_cart(s, token)
    await service.remove_code(s, cart, code)
    return service.cart_out(cart, await service.refresh(s, cart))


@router.put("/{token}/addresses", response_model=CartOut)
async def set_addresses(
    token: str, body: AddressesIn, placement: StorefrontStore, s: TenantSession
) -> CartOut:
    cart = await service.open_cart(s, token)
    await service.set_addresses(
        s,
        cart,
        email=str(body.email),
        shipping_address=body.shipping_address.model_dump(mode="json"),
        billing_address=(
            body.billing_address.model_dump(mode="json") if body.billing_address else None
        ),
    )
    return service.cart_out(cart, await service.refresh(s, cart))


@router.get("/{token}/shipping-options", response_model=ShippingOptionList)
async def shipping_options(
    token: str, placement: StorefrontStore, s: TenantReader
) -> ShippingOptionList:
    cart = await service.get_cart(s, token)
    totals = await service.totals_of(s, cart)
    return ShippingOptionList(
        items=[
            ShippingOptionOut(
                method_id=o.method_id,
                code=o.code,
                name=o.name,
                amount=o.amount,
                currency=o.currency,
            )
            for o in totals.shipping_options
        ]
    )


@router.put("/{token}/shipping-method", response_model=CartOut)
async def set_shipping_method(
    token: str, body: ShippingMethodIn, placement: StorefrontStore, s: TenantSession
) -> CartOut:
    cart = await service.open_cart(s, token)
    totals = await service.set_shipping_method(s, cart, body.shipping_method_id)
    return service.cart_out(cart, totals)
