"""The orders API: the admin's (owner or staff) list, detail, history and order operations,
and the storefront checkout that places an order.

The checkout's path is the cart's (``/api/storefront/carts/{token}/checkout``) but its work
is this domain's (``orders.checkout``), so its route lives here. It reads the store's plan
limits from the control plane first and only then opens the store's write transaction, so
no tenant transaction waits on the control plane.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import EmailStr

from storefleet.api.deps import ClientIP, RuntimeDep
from storefleet.api.store_access import (
    CanCancelOrders,
    CanFulfilOrders,
    CanMarkOrdersPaid,
    CanRefundOrders,
    CanViewOrders,
)
from storefleet.api.storefront_store import StorefrontStore
from storefleet.api.unit_of_work import Scope, TenantReader, TenantSession
from storefleet.commerce.carts import service as carts
from storefleet.commerce.carts.routes import SignedInCustomer
from storefleet.commerce.common import PageParams, page_params
from storefleet.commerce.orders import actions, queries
from storefleet.commerce.orders import checkout as checkout_service
from storefleet.commerce.orders.actions import LineRequest
from storefleet.commerce.orders.models import Order, OrderItem
from storefleet.commerce.orders.queries import OrderFilters, OrderView
from storefleet.commerce.orders.schemas import (
    CancelIn,
    CheckoutIn,
    FulfillmentIn,
    FulfillmentItemOut,
    FulfillmentOut,
    FulfillmentStatus,
    HistoryList,
    MarkPaidIn,
    OrderDetail,
    OrderEventOut,
    OrderItemOut,
    OrderList,
    OrderStatus,
    OrderSummary,
    PaymentStatus,
    RefundIn,
    StorefrontOrderOut,
    TransactionOut,
)

router = APIRouter(prefix="/api/stores/{store_id}/orders", tags=["orders"])
storefront_router = APIRouter(prefix="/api/storefront/carts", tags=["storefront carts"])
Paging = Annotated[PageParams, Depends(page_params)]


def summary_fields(order: Order) -> dict[str, object]:
    return {name: getattr(order, name) for name in OrderSummary.model_fields}


def storefront_order_out(order: Order, items: list[OrderItem]) -> StorefrontOrderOut:
    return StorefrontOrderOut(
        **summary_fields(order),
        shipping_address=order.shipping_address,
        billing_address=order.billing_address,
        shipping_method=order.shipping_method,
        items=[OrderItemOut.model_validate(i) for i in items],
    )


def detail_out(v: OrderView) -> OrderDetail:
    o = v.order
    return OrderDetail(
        **summary_fields(o),
        shipping_address=o.shipping_address,
        billing_address=o.billing_address,
        shipping_method=o.shipping_method,
        items=[OrderItemOut.model_validate(i) for i in v.items],
        customer_snapshot=o.customer_snapshot,
        notes=o.notes,
        tags=list(o.tags or []),
        ip_address=o.ip_address,
        user_agent=o.user_agent,
        cart_id=o.cart_id,
        history=[OrderEventOut.model_validate(e) for e in v.history],
        transactions=[TransactionOut.model_validate(t) for t in v.transactions],
        fulfillments=[
            FulfillmentOut(
                id=f.id,
                status=f.status,
                carrier=f.carrier,
                tracking_number=f.tracking_number,
                shipped_at=f.shipped_at,
                items=[
                    FulfillmentItemOut(order_item_id=i.order_item_id, quantity=i.quantity)
                    for i in lines
                ],
            )
            for f, lines in v.fulfillments
        ],
    )


@router.get("", response_model=OrderList)
async def list_orders(
    ctx: CanViewOrders,
    s: TenantReader,
    page: Paging,
    sort: Annotated[str | None, Query(max_length=40)] = None,
    status_: Annotated[OrderStatus | None, Query(alias="status")] = None,
    payment_status: PaymentStatus | None = None,
    fulfillment_status: FulfillmentStatus | None = None,
    customer_id: uuid.UUID | None = None,
    email: EmailStr | None = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
) -> OrderList:
    filters = OrderFilters(
        status=status_,
        payment_status=payment_status,
        fulfillment_status=fulfillment_status,
        customer_id=customer_id,
        email=str(email) if email else None,
        placed_from=placed_from,
        placed_to=placed_to,
    )
    rows = await queries.list_orders(s, filters, sort=sort, limit=page.limit, offset=page.offset)
    return OrderList.of(rows)


@router.get("/{order_id}", response_model=OrderDetail)
async def get_order(order_id: uuid.UUID, ctx: CanViewOrders, s: TenantReader) -> OrderDetail:
    return detail_out(await queries.view(s, order_id))


@router.get("/{order_id}/history", response_model=HistoryList)
async def order_history(order_id: uuid.UUID, ctx: CanViewOrders, s: TenantReader) -> HistoryList:
    events = await queries.history(s, order_id)
    return HistoryList(items=[OrderEventOut.model_validate(e) for e in events])


@router.post("/{order_id}/cancel", response_model=OrderDetail)
async def cancel_order(
    order_id: uuid.UUID, body: CancelIn, ctx: CanCancelOrders, s: TenantSession
) -> OrderDetail:
    await actions.cancel(s, order_id, reason=body.reason, actor=ctx.actor_label)
    return detail_out(await queries.view(s, order_id))


@router.post("/{order_id}/mark-paid", response_model=OrderDetail)
async def mark_paid(
    order_id: uuid.UUID, body: MarkPaidIn, ctx: CanMarkOrdersPaid, s: TenantSession
) -> OrderDetail:
    await actions.mark_paid(
        s, order_id, amount=body.amount, reference=body.reference, actor=ctx.actor_label
    )
    return detail_out(await queries.view(s, order_id))


@router.post(
    "/{order_id}/fulfillments", status_code=status.HTTP_201_CREATED, response_model=OrderDetail
)
async def create_fulfillment(
    order_id: uuid.UUID, body: FulfillmentIn, ctx: CanFulfilOrders, s: TenantSession
) -> OrderDetail:
    await actions.fulfil(
        s,
        order_id,
        [LineRequest(i.order_item_id, i.quantity) for i in body.items],
        carrier=body.carrier,
        tracking_number=body.tracking_number,
        actor=ctx.actor_label,
    )
    return detail_out(await queries.view(s, order_id))


@router.post("/{order_id}/refunds", status_code=status.HTTP_201_CREATED, response_model=OrderDetail)
async def create_refund(
    order_id: uuid.UUID, body: RefundIn, ctx: CanRefundOrders, s: TenantSession
) -> OrderDetail:
    await actions.refund(
        s,
        order_id,
        amount=body.amount,
        reason=body.reason,
        requested=[LineRequest(i.order_item_id, i.quantity) for i in body.items or []],
        restock=body.restock,
        actor=ctx.actor_label,
    )
    return detail_out(await queries.view(s, order_id))


@storefront_router.post(
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
    scope: Scope,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """201 with the new order; 200 with the same order when the key is replayed."""
    key = checkout_service.check_idempotency_key(idempotency_key)
    plan_limits = await runtime.plan_limits.get(scope.store_id)
    async with scope.write() as s:
        customer = await carts.load_customer(
            s, scope.store_id, signed_in.customer_id if signed_in else None
        )
        result = await checkout_service.checkout(
            s,
            scope.store_id,
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
        items = result.items
        if items is None:
            items = await queries.items_of(s, result.order.id)
        out = storefront_order_out(result.order, items)
    return JSONResponse(
        out.model_dump(mode="json"),
        status_code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
    )
