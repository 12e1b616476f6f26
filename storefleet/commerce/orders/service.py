"""Order operations for the store's staff: list, detail, cancel, mark paid, fulfil, refund.

Each operation locks the order row, checks the transition, and only then writes: the order,
stock movements, an append-only ``payment_transactions`` row where money moves, and an
``order_history`` event. An invalid transition is a 409 raised before any write, and the
caller's single tenant transaction guarantees nothing half-done survives an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.common import sort_order
from storefleet.commerce.inventory import stock as inventory
from storefleet.commerce.money import format_amount
from storefleet.commerce.orders.models import (
    Fulfillment,
    FulfillmentItem,
    Order,
    OrderEvent,
    OrderItem,
    OrderReturn,
    ReturnItem,
)
from storefleet.commerce.payments.models import PaymentTransaction
from storefleet.db.ids import uuid7
from storefleet.errors import Conflict, InvalidInput, NotFound

ORDER_NOT_FOUND = "Order not found"
SORTS: dict[str, ColumnElement[Any]] = {
    "number": Order.number,  # type: ignore[dict-item]
    "placed_at": Order.placed_at,  # type: ignore[dict-item]
    "total": Order.total,  # type: ignore[dict-item]
}
CANCELLABLE = ("pending", "confirmed")


@dataclass(frozen=True)
class OrderFilters:
    status: str | None = None
    payment_status: str | None = None
    fulfillment_status: str | None = None
    customer_id: uuid.UUID | None = None
    email: str | None = None
    placed_from: datetime | None = None
    placed_to: datetime | None = None


@dataclass
class OrderView:
    order: Order
    items: list[OrderItem]
    history: list[OrderEvent]
    transactions: list[PaymentTransaction]
    fulfillments: list[tuple[Fulfillment, list[FulfillmentItem]]]


@dataclass(frozen=True)
class LineRequest:
    order_item_id: uuid.UUID
    quantity: int


async def list_orders(
    session: AsyncSession,
    filters: OrderFilters,
    *,
    sort: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Order], int]:
    order_by = sort_order(sort, SORTS, "-placed_at")
    conditions: list[ColumnElement[bool]] = []
    if filters.status:
        conditions.append(Order.status == filters.status)
    if filters.payment_status:
        conditions.append(Order.payment_status == filters.payment_status)
    if filters.fulfillment_status:
        conditions.append(Order.fulfillment_status == filters.fulfillment_status)
    if filters.customer_id:
        conditions.append(Order.customer_id == filters.customer_id)
    if filters.email:
        conditions.append(func.lower(Order.email) == filters.email.strip().lower())
    if filters.placed_from:
        conditions.append(Order.placed_at >= filters.placed_from)
    if filters.placed_to:
        conditions.append(Order.placed_at < filters.placed_to)
    total = int(
        await session.scalar(select(func.count()).select_from(Order).where(*conditions)) or 0
    )
    rows = await session.execute(
        select(Order).where(*conditions).order_by(*order_by, Order.id).limit(limit).offset(offset)
    )
    return list(rows.scalars()), total


async def get_order(session: AsyncSession, order_id: uuid.UUID, *, lock: bool = False) -> Order:
    """Another store's order is invisible (RLS) and answers like a missing one."""
    query = select(Order).where(Order.id == order_id)
    if lock:
        query = query.with_for_update()
    order = (await session.execute(query)).scalar_one_or_none()
    if order is None:
        raise NotFound(ORDER_NOT_FOUND)
    return order


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


def _event(
    order: Order,
    event_type: str,
    *,
    actor: str,
    message: str,
    from_status: str | None = None,
    to_status: str | None = None,
    data: dict[str, Any] | None = None,
) -> OrderEvent:
    return OrderEvent(
        store_id=order.store_id,
        order_id=order.id,
        event_type=event_type,
        from_status=from_status,
        to_status=to_status,
        message=message,
        data=data or {},
        actor=actor,
    )


def payment_status_for(order: Order) -> str:
    if order.refunded_amount > 0:
        return "refunded" if order.refunded_amount >= order.paid_amount else "partially_refunded"
    if order.paid_amount > 0:
        return "paid" if order.paid_amount >= order.total else "partially_paid"
    return order.payment_status


def fulfillment_status_for(items: Sequence[OrderItem]) -> str:
    ordered = sum(i.quantity for i in items)
    fulfilled = sum(i.quantity_fulfilled for i in items)
    returned = sum(i.quantity_returned for i in items)
    if returned:
        return "returned" if returned >= ordered else "partially_returned"
    if fulfilled == 0:
        return "unfulfilled"
    return "fulfilled" if fulfilled >= ordered else "partially_fulfilled"


async def _method_id(session: AsyncSession, order: Order) -> uuid.UUID | None:
    return await session.scalar(
        select(PaymentTransaction.method_id)
        .where(PaymentTransaction.order_id == order.id)
        .order_by(PaymentTransaction.created_at, PaymentTransaction.id)
        .limit(1)
    )


async def cancel(session: AsyncSession, order_id: uuid.UUID, *, reason: str, actor: str) -> Order:
    """Only a pending or confirmed order with nothing shipped; its stock goes back."""
    order = await get_order(session, order_id, lock=True)
    if order.status not in CANCELLABLE:
        raise Conflict(f"An order that is {order.status} cannot be cancelled", field="status")
    if order.fulfillment_status != "unfulfilled":
        raise Conflict(
            "An order with shipped items cannot be cancelled; refund it instead",
            field="fulfillment_status",
        )
    released = await inventory.release_order(session, order.id)
    previous = order.status
    order.status = "cancelled"
    order.cancelled_at = datetime.now(UTC)
    order.cancel_reason = reason or None
    if order.payment_status == "authorized":
        session.add(
            PaymentTransaction(
                store_id=order.store_id,
                order_id=order.id,
                method_id=await _method_id(session, order),
                kind="void",
                status="succeeded",
                amount=order.total,
                currency=order.currency,
                idempotency_key=f"void:{uuid7()}",
            )
        )
        order.payment_status = "voided"
    session.add(
        _event(
            order,
            "cancelled",
            actor=actor,
            message=reason or "Order cancelled",
            from_status=previous,
            to_status="cancelled",
            data={"units_released": released},
        )
    )
    await session.flush()
    return order


async def mark_paid(
    session: AsyncSession,
    order_id: uuid.UUID,
    *,
    amount: int | None,
    reference: str | None,
    actor: str,
) -> Order:
    """Record a captured payment (manual methods); the whole balance when no amount is given."""
    order = await get_order(session, order_id, lock=True)
    if order.status == "cancelled":
        raise Conflict("A cancelled order cannot be paid", field="status")
    due = order.total - order.paid_amount
    if due <= 0:
        raise Conflict("This order has nothing left to pay", field="amount")
    amount = due if amount is None else amount
    if amount > due:
        raise Conflict(
            f"{format_amount(amount, order.currency)} exceeds the "
            f"{format_amount(due, order.currency)} due",
            field="amount",
        )
    previous_payment = order.payment_status
    session.add(
        PaymentTransaction(
            store_id=order.store_id,
            order_id=order.id,
            method_id=await _method_id(session, order),
            kind="capture",
            status="succeeded",
            amount=amount,
            currency=order.currency,
            provider_reference=reference,
            idempotency_key=f"capture:{uuid7()}",
        )
    )
    order.paid_amount += amount
    order.payment_status = payment_status_for(order)
    previous = order.status
    if order.status == "pending":
        order.status = "confirmed"
    if order.payment_status == "paid":
        order.paid_at = datetime.now(UTC)
    session.add(
        _event(
            order,
            "payment_captured",
            actor=actor,
            message=f"Payment of {format_amount(amount, order.currency)} recorded",
            from_status=previous_payment,
            to_status=order.payment_status,
            data={
                "amount": amount,
                "reference": reference,
                "paid_amount": order.paid_amount,
                "status": {"from": previous, "to": order.status},
            },
        )
    )
    await session.flush()
    return order


async def _lines(
    session: AsyncSession, order: Order, requested: Sequence[LineRequest]
) -> tuple[list[OrderItem], dict[uuid.UUID, int]]:
    """The order's items and the requested quantity per item (unknown items: 422)."""
    items = await items_of(session, order.id)
    by_id = {i.id: i for i in items}
    wanted: dict[uuid.UUID, int] = {}
    for n, line in enumerate(requested):
        if line.order_item_id not in by_id:
            raise InvalidInput(
                "This item is not part of the order", field=f"items.{n}.order_item_id"
            )
        wanted[line.order_item_id] = wanted.get(line.order_item_id, 0) + line.quantity
    return items, wanted


async def fulfil(
    session: AsyncSession,
    order_id: uuid.UUID,
    requested: Sequence[LineRequest],
    *,
    carrier: str | None,
    tracking_number: str | None,
    actor: str,
) -> Fulfillment:
    """Ship some or all remaining units; never more than ordered minus already shipped."""
    order = await get_order(session, order_id, lock=True)
    if order.status == "cancelled":
        raise Conflict("A cancelled order cannot be fulfilled", field="status")
    items, wanted = await _lines(session, order, requested)
    for n, item in enumerate(items):
        quantity = wanted.get(item.id, 0)
        remaining = item.quantity - item.quantity_fulfilled
        if quantity > remaining:
            raise Conflict(
                f"Only {remaining} of this item remain to be fulfilled",
                field="items",
                order_item_id=str(item.id),
                line=n,
            )
    now = datetime.now(UTC)
    fulfillment = Fulfillment(
        store_id=order.store_id,
        order_id=order.id,
        status="shipped",
        carrier=carrier,
        tracking_number=tracking_number,
        shipped_at=now,
    )
    session.add(fulfillment)
    await session.flush()
    for item in items:
        quantity = wanted.get(item.id, 0)
        if not quantity:
            continue
        if item.variant_id is not None:
            await inventory.ship(
                session, order.store_id, order.id, item.variant_id, quantity, actor=actor
            )
        item.quantity_fulfilled += quantity
        session.add(
            FulfillmentItem(
                store_id=order.store_id,
                fulfillment_id=fulfillment.id,
                order_item_id=item.id,
                quantity=quantity,
            )
        )
    previous = order.fulfillment_status
    order.fulfillment_status = fulfillment_status_for(items)
    previous_status = order.status
    if order.fulfillment_status == "fulfilled":
        order.fulfilled_at = now
        order.status = "completed"
    elif order.status in CANCELLABLE:
        order.status = "processing"
    session.add(
        _event(
            order,
            "fulfilled" if order.fulfillment_status == "fulfilled" else "partially_fulfilled",
            actor=actor,
            message=f"{sum(wanted.values())} unit(s) shipped"
            + (f" with {carrier}" if carrier else ""),
            from_status=previous,
            to_status=order.fulfillment_status,
            data={
                "fulfillment_id": str(fulfillment.id),
                "items": {str(k): v for k, v in wanted.items()},
                "carrier": carrier,
                "tracking_number": tracking_number,
                "status": {"from": previous_status, "to": order.status},
            },
        )
    )
    await session.flush()
    return fulfillment


async def refund(
    session: AsyncSession,
    order_id: uuid.UUID,
    *,
    amount: int,
    reason: str,
    requested: Sequence[LineRequest],
    restock: bool,
    actor: str,
) -> Order:
    """Give back up to what was paid and not yet refunded; returned items may be restocked."""
    order = await get_order(session, order_id, lock=True)
    refundable = order.paid_amount - order.refunded_amount
    if order.paid_amount == 0:
        raise Conflict("Nothing has been paid on this order", field="amount")
    if amount > refundable:
        raise Conflict(
            f"{format_amount(amount, order.currency)} exceeds the "
            f"{format_amount(refundable, order.currency)} that can be refunded",
            field="amount",
        )
    items, wanted = await _lines(session, order, requested)
    for item in items:
        quantity = wanted.get(item.id, 0)
        returnable = item.quantity_fulfilled - item.quantity_returned
        if quantity > returnable:
            raise Conflict(
                f"Only {returnable} shipped unit(s) of this item can be returned",
                field="items",
                order_item_id=str(item.id),
            )
    location = await inventory.default_location(session) if restock and wanted else None
    returned = OrderReturn(
        store_id=order.store_id,
        order_id=order.id,
        status="refunded",
        reason=reason,
        refund_amount=amount,
        restock=restock,
    )
    session.add(returned)
    await session.flush()
    for item in items:
        quantity = wanted.get(item.id, 0)
        if not quantity:
            continue
        item.quantity_returned += quantity
        session.add(
            ReturnItem(
                store_id=order.store_id,
                return_id=returned.id,
                order_item_id=item.id,
                quantity=quantity,
            )
        )
        if location is not None and item.variant_id is not None:
            await inventory.adjust(
                session,
                order.store_id,
                item.variant_id,
                location.id,
                quantity,
                reason="returned",
                note=reason,
                actor=actor,
                order_id=order.id,
            )
    session.add(
        PaymentTransaction(
            store_id=order.store_id,
            order_id=order.id,
            method_id=await _method_id(session, order),
            kind="refund",
            status="succeeded",
            amount=amount,
            currency=order.currency,
            idempotency_key=f"refund:{uuid7()}",
            data={"reason": reason, "return_id": str(returned.id)},
        )
    )
    previous = order.payment_status
    order.refunded_amount += amount
    order.payment_status = payment_status_for(order)
    if wanted:
        order.fulfillment_status = fulfillment_status_for(items)
    session.add(
        _event(
            order,
            "refunded",
            actor=actor,
            message=f"Refund of {format_amount(amount, order.currency)}"
            + (f": {reason}" if reason else ""),
            from_status=previous,
            to_status=order.payment_status,
            data={
                "amount": amount,
                "refunded_amount": order.refunded_amount,
                "return_id": str(returned.id),
                "items": {str(k): v for k, v in wanted.items()},
                "restocked": location is not None,
            },
        )
    )
    await session.flush()
    return order
