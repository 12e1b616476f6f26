"""Order operations for the store's staff: cancel, mark paid, fulfil, refund.

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

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
from storefleet.commerce.orders.queries import get_order, items_of
from storefleet.commerce.orders.statuses import fulfillment_status_for, payment_status_for
from storefleet.commerce.payments.models import PaymentTransaction
from storefleet.db.ids import uuid7
from storefleet.errors import Conflict, InvalidInput

CANCELLABLE = ("pending", "confirmed")


@dataclass(frozen=True)
class LineRequest:
    order_item_id: uuid.UUID
    quantity: int


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
