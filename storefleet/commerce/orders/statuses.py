"""An order's payment and fulfilment status, derived from its amounts and item quantities.

The operations never set these by hand: after money moves or units ship or come back, the
status is recomputed from the totals, so it cannot drift from what the rows say.
"""

from __future__ import annotations

from collections.abc import Sequence

from storefleet.commerce.orders.models import Order, OrderItem


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
