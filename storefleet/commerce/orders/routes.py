"""The orders admin API (owner or staff): list, detail, history and the order operations."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import EmailStr

from storefleet.api.deps import RuntimeDep
from storefleet.api.store_access import (
    CanCancelOrders,
    CanFulfilOrders,
    CanMarkOrdersPaid,
    CanRefundOrders,
    CanViewOrders,
)
from storefleet.commerce.common import PageParams, page_params
from storefleet.commerce.orders import service
from storefleet.commerce.orders.models import Order, OrderItem
from storefleet.commerce.orders.schemas import (
    CancelIn,
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
from storefleet.commerce.orders.service import LineRequest, OrderFilters, OrderView

router = APIRouter(prefix="/api/stores/{store_id}/orders", tags=["orders"])
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
    runtime: RuntimeDep,
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
    async with runtime.tenancy.session(ctx.placement, write=False) as s:
        rows, total = await service.list_orders(
            s, filters, sort=sort, limit=page.limit, offset=page.offset
        )
        items = [OrderSummary.model_validate(r) for r in rows]
    return OrderList(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{order_id}", response_model=OrderDetail)
async def get_order(order_id: uuid.UUID, ctx: CanViewOrders, runtime: RuntimeDep) -> OrderDetail:
    async with runtime.tenancy.session(ctx.placement, write=False) as s:
        return detail_out(await service.view(s, order_id))


@router.get("/{order_id}/history", response_model=HistoryList)
async def order_history(
    order_id: uuid.UUID, ctx: CanViewOrders, runtime: RuntimeDep
) -> HistoryList:
    async with runtime.tenancy.session(ctx.placement, write=False) as s:
        order = await service.get_order(s, order_id)
        events = await service.history_of(s, order.id)
        return HistoryList(items=[OrderEventOut.model_validate(e) for e in events])


@router.post("/{order_id}/cancel", response_model=OrderDetail)
async def cancel_order(
    order_id: uuid.UUID, body: CancelIn, ctx: CanCancelOrders, runtime: RuntimeDep
) -> OrderDetail:
    async with runtime.tenancy.session(ctx.placement) as s:
        await service.cancel(s, order_id, reason=body.reason, actor=ctx.actor_label)
        return detail_out(await service.view(s, order_id))


@router.post("/{order_id}/mark-paid", response_model=OrderDetail)
async def mark_paid(
    order_id: uuid.UUID, body: MarkPaidIn, ctx: CanMarkOrdersPaid, runtime: RuntimeDep
) -> OrderDetail:
    async with runtime.tenancy.session(ctx.placement) as s:
        await service.mark_paid(
            s, order_id, amount=body.amount, reference=body.reference, actor=ctx.actor_label
        )
        return detail_out(await service.view(s, order_id))


@router.post(
    "/{order_id}/fulfillments", status_code=status.HTTP_201_CREATED, response_model=OrderDetail
)
async def create_fulfillment(
    order_id: uuid.UUID, body: FulfillmentIn, ctx: CanFulfilOrders, runtime: RuntimeDep
) -> OrderDetail:
    async with runtime.tenancy.session(ctx.placement) as s:
        await service.fulfil(
            s,
            order_id,
            [LineRequest(i.order_item_id, i.quantity) for i in body.items],
            carrier=body.carrier,
            tracking_number=body.tracking_number,
            actor=ctx.actor_label,
        )
        return detail_out(await service.view(s, order_id))


@router.post("/{order_id}/refunds", status_code=status.HTTP_201_CREATED, response_model=OrderDetail)
async def create_refund(
    order_id: uuid.UUID, body: RefundIn, ctx: CanRefundOrders, runtime: RuntimeDep
) -> OrderDetail:
    async with runtime.tenancy.session(ctx.placement) as s:
        await service.refund(
            s,
            order_id,
            amount=body.amount,
            reason=body.reason,
            requested=[LineRequest(i.order_item_id, i.quantity) for i in body.items or []],
            restock=body.restock,
            actor=ctx.actor_label,
        )
        return detail_out(await service.view(s, order_id))
