"""Reading orders for the store's staff: the filtered list, one order's detail, its history.

Another store's order is invisible (RLS) and answers like a missing one. The detail gathers
everything the admin shows of an order (items, history, payment transactions, fulfilments
with their lines) in the one read transaction of the request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.common import sort_order
from storefleet.commerce.orders.models import (
    Fulfillment,
    FulfillmentItem,
    Order,
    OrderEvent,
    OrderItem,
)
from storefleet.commerce.payments.models import PaymentTransaction
from storefleet.db.queries import Rows, get_or_404, paged

ORDER_NOT_FOUND = "Order not found"
SORTS: dict[str, ColumnElement[Any]] = {
    "number": Order.number,  # type: ignore[dict-item]
    "placed_at": Order.placed_at,  # type: ignore[dict-item]
    "total": Order.total,  # type: ignore[dict-item]
}


@dataclass(frozen=True)
class OrderFilters:
    status: str | None = None
    payment_status: str | None = None
    fulfillment_status: str | None = None
    customer_id: uuid.UUID | None = None
    email: str | None = None
    placed_from: datetime | None = None
    placed_to: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.status:
            found.append(Order.status == self.status)
        if self.payment_status:
            found.append(Order.payment_status == self.payment_status)
        if self.fulfillment_status:
            found.append(Order.fulfillment_status == self.fulfillment_status)
        if self.customer_id:
            found.append(Order.customer_id == self.customer_id)
        if self.email:
            found.append(func.lower(Order.email) == self.email.strip().lower())
        if self.placed_from:
            found.append(Order.placed_at >= self.placed_from)
        if self.placed_to:
            found.append(Order.placed_at < self.placed_to)
        return found


@dataclass
class OrderView:
    order: Order
    items: list[OrderItem]
    history: list[OrderEvent]
    transactions: list[PaymentTransaction]
    fulfillments: list[tuple[Fulfillment, list[FulfillmentItem]]]


async def list_orders(
    session: AsyncSession,
    filters: OrderFilters,
    *,
    sort: str | None,
    limit: int,
    offset: int,
) -> Rows[Order]:
    order_by = sort_order(sort, SORTS, "-placed_at")
    stmt = select(Order).where(*filters.conditions()).order_by(*order_by, Order.id)
    return await paged(session, stmt, limit=limit, offset=offset)


async def get_order(session: AsyncSession, order_id: uuid.UUID, *, lock: bool = False) -> Order:
    return await get_or_404(session, Order, order_id, missing=ORDER_NOT_FOUND, lock=lock)


async def items_of(session: AsyncSession, order_id: uuid.UUID) -> list[OrderItem]:
    rows = await session.execute(
        select(OrderItem)
        .where(OrderItem.order_id == order_id)
        .order_by(OrderItem.created_at, OrderItem.id)
    )
    return list(rows.scalars())


async def history_of(session: AsyncSession, order_id: uuid.UUID) -> list[OrderEvent]:
    rows = await session.execute(
        select(OrderEvent)
        .where(OrderEvent.order_id == order_id)
        .order_by(OrderEvent.created_at, OrderEvent.id)
    )
    return list(rows.scalars())


async def history(session: AsyncSession, order_id: uuid.UUID) -> list[OrderEvent]:
    """The events of an order that exists in this store (404 otherwise)."""
    order = await get_order(session, order_id)
    return await history_of(session, order.id)


async def view(session: AsyncSession, order_id: uuid.UUID) -> OrderView:
    order = await get_order(session, order_id)
    await session.refresh(order)
    transactions = (
        await session.execute(
            select(PaymentTransaction)
            .where(PaymentTransaction.order_id == order.id)
            .order_by(PaymentTransaction.created_at, PaymentTransaction.id)
        )
    ).scalars()
    fulfillments = list(
        (
            await session.execute(
                select(Fulfillment)
                .where(Fulfillment.order_id == order.id)
                .order_by(Fulfillment.created_at, Fulfillment.id)
            )
        ).scalars()
    )
    lines: dict[uuid.UUID, list[FulfillmentItem]] = {f.id: [] for f in fulfillments}
    if fulfillments:
        for row in (
            await session.execute(
                select(FulfillmentItem)
                .where(FulfillmentItem.fulfillment_id.in_(list(lines)))
                .order_by(FulfillmentItem.created_at, FulfillmentItem.id)
            )
        ).scalars():
            lines[row.fulfillment_id].append(row)
    return OrderView(
        order=order,
        items=await items_of(session, order.id),
        history=await history_of(session, order.id),
        transactions=list(transactions),
        fulfillments=[(f, lines[f.id]) for f in fulfillments],
    )
