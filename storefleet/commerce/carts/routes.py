"""The storefront cart API: ``/api/storefront/carts/{token}`` — the token is the cart's bearer.

The store comes from ``Host`` / ``X-Store-Id`` / the token's ``store_id`` (they must agree);
the cart is looked up inside that store only. An optional customer token links the cart and
the order to the signed-in customer.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.responses import JSONResponse

from storefleet.api.deps import ClientIP, RuntimeDep
from storefleet.api.storefront_store import StorefrontStore
from storefleet.commerce.carts import service
from storefleet.commerce.carts.schemas import (
    AddressesIn,
    CartCreate,
    CartOut,
    CheckoutIn,
    CodeIn,
    ItemAdd,
    ItemUpdate,
    ShippingMethodIn,
    ShippingOptionList,
    ShippingOptionOut,
)
from storefleet.commerce.customers.storefront import CustomerContext, current_customer
from storefleet.commerce.orders import checkout as checkout_service
from storefleet.commerce.orders import service as orders
from storefleet.commerce.orders.routes import storefront_order_out
from storefleet.commerce.orders.schemas import StorefrontOrderOut
from storefleet.security.tokens import TokenClaims
from storefleet.tenancy.placement import StorePlacement

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


async def _cart_response(runtime: RuntimeDep, placement: StorePlacement, token: str) -> CartOut:
    async with runtime.tenancy.session(placement, write=False) as s:
        cart = await service.get_cart(s, token)
        return service.cart_out(cart, await service.totals_of(s, cart))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CartOut)
async def create_cart(
    placement: StorefrontStore,
    runtime: RuntimeDep,
    signed_in: SignedInCustomer,
    body: CartCreate | None = None,
) -> CartOut:
    async with runtime.tenancy.session(placement) as s:
        customer = await service.load_customer(
            s, placement.store_id, signed_in.customer_id if signed_in else None
        )
        cart = await service.create_cart(
            s, placement.store_id, currency=body.currency if body else None, customer=customer
        )
        return service.cart_out(cart, await service.refresh(s, cart))


@router.get("/{token}", response_model=CartOut)
async def get_cart(token: str, placement: StorefrontStore, runtime: RuntimeDep) -> CartOut:
    return await _cart_response(runtime, placement, token)


@router.post("/{token}/items", status_code=status.HTTP_201_CREATED, response_model=CartOut)
async def add_item(
    token: str, body: ItemAdd, placement: StorefrontStore, runtime: RuntimeDep
) -> CartOut:
    async with runtime.tenancy.session(placement) as s:
        cart = await service.open_cart(s, token)
        await service.add_item(s, cart, body.variant_id, body.quantity)
        return service.cart_out(cart, await service.refresh(s, cart))


@router.patch("/{token}/items/{item_id}", response_model=CartOut)
async def update_item(
    token: str,
    item_id: uuid.UUID,
    body: ItemUpdate,
    placement: StorefrontStore,
    runtime: RuntimeDep,
) -> CartOut:
    async with runtime.tenancy.session(placement) as s:
        cart = await service.open_cart(s, token)
        await service.update_item(s, cart, item_id, body.quantity)
        return service.cart_out(cart, await service.refresh(s, cart))


@router.delete("/{token}/items/{item_id}", response_model=CartOut)
async def remove_item(
    token: str, item_id: uuid.UUID, placement: StorefrontStore, runtime: RuntimeDep
) -> CartOut:
    async with runtime.tenancy.session(placement) as s:
        cart = await service.open_cart(s, token)
        await service.remove_item(s, cart, item_id)
        return service.cart_out(cart, await service.refresh(s, cart))


@router.post("/{token}/codes", response_model=CartOut)
async def apply_code(
    token: str, body: CodeIn, placement: StorefrontStore, runtime: RuntimeDep
) -> CartOut:
    async with runtime.tenancy.session(placement) as s:
        cart = await service.open_cart(s, token)
        await service.add_code(s, cart, body.code)
        return service.cart_out(cart, await service.refresh(s, cart))


@router.delete("/{token}/codes/{code}", response_model=CartOut)
async def remove_code(
    token: str, code: str, placement: StorefrontStore, runtime: RuntimeDep
) -> CartOut:
    async with runtime.tenancy.session(placement) as s:
        cart = await service.open_cart(s, token)
        await service.remove_code(s, cart, code)
        return service.cart_out(cart, await service.refresh(s, cart))


@router.put("/{token}/addresses", response_model=CartOut)
async def set_addresses(
    token: str, body: AddressesIn, placement: StorefrontStore, runtime: RuntimeDep
) -> CartOut:
    async with runtime.tenancy.session(placement) as s:
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
    token: str, placement: StorefrontStore, runtime: RuntimeDep
) -> ShippingOptionList:
    async with runtime.tenancy.session(placement, write=False) as s:
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
    token: str, body: ShippingMethodIn, placement: StorefrontStore, runtime: RuntimeDep
) -> CartOut:
    async with runtime.tenancy.session(placement) as s:
        cart = await service.open_cart(s, token)
        totals = await service.set_shipping_method(s, cart, body.shipping_method_id)
        return service.cart_out(cart, totals)


@router.post(
    "/{token}/checkout",
    status_code=status.HTTP_201_CREATED,
    response_model=StorefrontOrderOut,
    responses={200: {"model": StorefrontOrderOut, "description": "Replay of a placed order"}},
)
async def checkout(
    token: str,
    body: CheckoutIn,
    request: Request,
    placement: StorefrontStore,
    runtime: RuntimeDep,
    signed_in: SignedInCustomer,
    ip: ClientIP,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """201 with the new order; 200 with the same order when the key is replayed."""
    key = checkout_service.check_idempotency_key(idempotency_key)
    plan_limits = await runtime.plan_limits.get(placement.store_id)
    async with runtime.tenancy.session(placement) as s:
        customer = await service.load_customer(
            s, placement.store_id, signed_in.customer_id if signed_in else None
        )
        result = await checkout_service.checkout(
            s,
            placement.store_id,
            checkout_service.CheckoutRequest(
                token=token,
                idempotency_key=key,
                payment_method_code=body.payment_method_code,
                notes=body.notes,
                ip_address=ip,
                user_agent=request.headers.get("user-agent"),
            ),
            customer=customer,
            plan_limits=plan_limits,
        )
        out = storefront_order_out(result.order, await orders.items_of(s, result.order.id))
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
    )
