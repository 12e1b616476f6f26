"""Checkout: a cart becomes an order in ONE tenant transaction, or nothing happens.

Order of work (and of row locks, the same for every checkout, so they cannot deadlock):
cart row (``FOR UPDATE``) → totals recomputed on the server → the guest customer (an
advisory lock per email) → stock rows (conditional UPDATE per variant, sorted) → the
store's order counter → the store's counter of the month's orders (the plan's
``max_orders_per_month``) → discount usage rows. Everything that can be read or prepared
happens before the stock rows, which every buyer of a product contends for. The counter
is ``INSERT … ON CONFLICT DO UPDATE … RETURNING``: a checkout that fails after taking a
number rolls the number back with everything else, so numbers have no gaps.

Idempotency: the client's ``Idempotency-Key`` is stored on ``orders.idempotency_key``
(unique per store). The same key for the same cart answers the order already placed; the
key with another cart is a 409. A concurrent retry waits on the cart lock and then finds
the order.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.carts import service as carts
from storefleet.commerce.carts.models import Cart
from storefleet.commerce.customers import service as customers
from storefleet.commerce.customers.models import Customer
from storefleet.commerce.inventory import stock as inventory
from storefleet.commerce.inventory.stock import StockLine
from storefleet.commerce.orders.models import Order, OrderEvent, OrderItem
from storefleet.commerce.payments.models import PaymentMethod, PaymentTransaction
from storefleet.commerce.promotions import engine as promotions
from storefleet.commerce.totals import Totals, images_for
from storefleet.control.billing.limits import PlanLimitReached, PlanLimits
from storefleet.db.constraints import flush
from storefleet.db.ids import uuid7
from storefleet.errors import Conflict, InvalidInput

MAX_IDEMPOTENCY_KEY = 200
KEY_REUSED = "This Idempotency-Key was used for another checkout"

NEXT_ORDER_NUMBER = text(
    "INSERT INTO store_counters (store_id, id, name, value, created_at, updated_at) "
    "VALUES (:s, gen_random_uuid(), 'order_number', 1, now(), now()) "
    "ON CONFLICT (store_id, name) DO UPDATE "
    "SET value = store_counters.value + 1, updated_at = now() RETURNING value"
)
COUNT_MONTHLY_ORDER = text(
    "UPDATE store_counters SET value = value + 1, updated_at = now() "
    "WHERE store_id = :s AND name = :name RETURNING value"
)
# The month's first order (or the first since this counter exists) starts from a count.
FIRST_MONTHLY_ORDER = text(
    "INSERT INTO store_counters (store_id, id, name, value, created_at, updated_at) "
    "SELECT :s, gen_random_uuid(), :name, count(*) + 1, now(), now() FROM orders "
    "WHERE store_id = :s AND placed_at >= :since "
    "ON CONFLICT (store_id, name) DO UPDATE "
    "SET value = store_counters.value + 1, updated_at = now() RETURNING value"
)


@dataclass(frozen=True)
class CheckoutRequest:
    token: str
    idempotency_key: str
    payment_method_code: str
    notes: str = ""
    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class CheckoutResult:
    order: Order
    created: bool
    items: list[OrderItem] | None = None  # the new order's lines (a replay reads them)


def check_idempotency_key(key: str | None) -> str:
    if key is None or not key.strip():
        raise InvalidInput("An Idempotency-Key header is required", field="Idempotency-Key")
    key = key.strip()
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise InvalidInput(
            f"Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY} printable characters",
            field="Idempotency-Key",
        )
    return key


async def next_order_number(session: AsyncSession, store_id: uuid.UUID) -> int:
    return int((await session.execute(NEXT_ORDER_NUMBER, {"s": store_id})).scalar_one())


async def count_monthly_order(session: AsyncSession, store_id: uuid.UUID, now: datetime) -> int:
    """This order's place among the store's orders of the calendar month (UTC), counted
    under the counter's row lock: concurrent checkouts take turns, none can overshoot."""
    since = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    params = {"s": store_id, "name": f"orders:{since:%Y-%m}", "since": since}
    counted = (await session.execute(COUNT_MONTHLY_ORDER, params)).scalar_one_or_none()
    if counted is None:
        counted = (await session.execute(FIRST_MONTHLY_ORDER, params)).scalar_one()
    return int(counted)


def check_order_limit(plan_limits: PlanLimits | None, placed: int) -> None:
    allowed = plan_limits.max_orders_per_month if plan_limits else None
    if plan_limits is None or allowed is None or placed <= allowed:
        return
    raise PlanLimitReached(
        f"The {plan_limits.plan} plan allows {allowed} orders a month; the store cannot take "
        "more orders until next month or a plan upgrade",
        limit="max_orders_per_month",
        plan=plan_limits.plan,
        current=placed - 1,
        allowed=allowed,
    )


async def _order_for_key(session: AsyncSession, key: str) -> Order | None:
    return (
        await session.execute(select(Order).where(Order.idempotency_key == key))
    ).scalar_one_or_none()


def customer_snapshot(customer: Customer | None, email: str) -> dict[str, Any]:
    if customer is None:
        return {"email": email, "is_guest": True}
    return {
        "id": str(customer.id),
        "email": customer.email,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "phone": customer.phone,
        "is_guest": customer.is_guest,
    }


async def _payment_method(session: AsyncSession, code: str) -> PaymentMethod:
    method = (
        await session.execute(
            select(PaymentMethod).where(PaymentMethod.code == code, PaymentMethod.is_active)
        )
    ).scalar_one_or_none()
    if method is None:
        raise InvalidInput("Unknown payment method", field="payment_method_code")
    return method


async def checkout(
    session: AsyncSession,
    store_id: uuid.UUID,
    request: CheckoutRequest,
    *,
    customer: Customer | None,
    plan_limits: PlanLimits | None = None,
) -> CheckoutResult:
    """Run inside the caller's tenant transaction; any error rolls back every write.

    ``plan_limits`` (the store's plan) caps the orders of a calendar month: past it, 402.
    """
    cart = await carts.get_cart(session, request.token, lock=True)
    previous = await _order_for_key(session, request.idempotency_key)
    if previous is not None:
        if previous.cart_id != cart.id:
            raise Conflict(KEY_REUSED, field="Idempotency-Key")
        return CheckoutResult(previous, created=False)
    carts.require_open(cart)
    if customer is not None and cart.customer_id not in (None, customer.id):
        raise Conflict("This cart belongs to another customer", field="token")
    items = await carts.items_of(session, cart)
    if not items:
        raise InvalidInput("The cart is empty", field="items")
    email = customer.email if customer else cart.email  # an account buys as itself
    if not email:
        raise InvalidInput("An email address is needed to check out", field="email")
    method = await _payment_method(session, request.payment_method_code)
    totals = await carts.totals_of(session, cart, items, strict=True)

    if customer is None:
        named = cart.billing_address or cart.shipping_address or {}
        customer = await customers.find_or_create_guest(
            session,
            store_id,
            email,
            str(named.get("first_name") or ""),
            str(named.get("last_name") or ""),
        )
    images = await images_for(session, totals.lines)

    # From here on rows other checkouts want are locked: keep it short.
    order_id = uuid7()
    await inventory.reserve(
        session,
        store_id,
        [
            StockLine(line.variant_id, line.quantity, field=f"items.{i}.variant_id")
            for i, line in enumerate(totals.lines)
        ],
        order_id=order_id,
        variants={line.variant_id: line.variant for line in totals.lines if line.variant},
    )
    number = await next_order_number(session, store_id)
    now = datetime.now(UTC)
    check_order_limit(plan_limits, await count_monthly_order(session, store_id, now))
    order = _new_order(store_id, order_id, number, cart, totals, customer, email, now, request)
    order.shipping_method = (
        totals.shipping_option.snapshot() | {"tax_amount": totals.shipping_tax}
        if totals.shipping_option
        else None
    )
    order.payment_status = "paid" if totals.total == 0 else "unpaid"
    session.add(order)
    # Another cart's checkout may have taken this Idempotency-Key a moment ago.
    await flush(session, Conflict(KEY_REUSED, field="Idempotency-Key"), savepoint=True)
    await promotions.redeem(
        session,
        store_id,
        totals.applied,
        order_id=order.id,
        email=email,
        customer_id=customer.id if customer else None,
    )
    lines: list[OrderItem] = []
    for position, line in enumerate(totals.lines):
        assert line.product is not None and line.variant is not None
        lines.append(
            OrderItem(
                id=uuid7(),
                store_id=store_id,
                # Lines keep the cart's order: one transaction shares one now().
                created_at=now + timedelta(microseconds=position),
                order_id=order.id,
                product_id=line.product.id,
                variant_id=line.variant.id,
                product_name=line.product.name,
                variant_title=line.variant.title,
                sku=line.variant.sku,
                options=dict(line.variant.option_values or {}),
                image_url=images.get(line.variant_id),
                requires_shipping=line.product.requires_shipping,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                discount_amount=line.discount_amount,
                tax_rate_bp=line.tax_rate_bp,
                tax_amount=line.tax_amount,
                total_amount=line.total_amount,
            )
        )
    session.add_all(lines)
    actor = f"customer:{customer.id}" if customer and not customer.is_guest else "guest"
    session.add(
        OrderEvent(
            store_id=store_id,
            order_id=order.id,
            event_type="placed",
            to_status=order.status,
            message=f"Order #{number} placed",
            data={
                "total": order.total,
                "currency": order.currency,
                "codes": order.discount_codes,
                "payment_method": method.code,
            },
            actor=actor,
        )
    )
    session.add(
        PaymentTransaction(
            store_id=store_id,
            order_id=order.id,
            method_id=method.id,
            kind="authorize",
            status="pending",
            amount=order.total,
            currency=order.currency,
            idempotency_key=f"checkout:{request.idempotency_key}",
            data={"provider": method.provider, "method": method.code},
        )
    )
    cart.status = "converted"
    cart.order_id = order.id
    cart.customer_id = cart.customer_id or (customer.id if customer else None)
    carts.cache_totals(cart, totals)
    await session.flush()
    return CheckoutResult(order, created=True, items=lines)


def _new_order(
    store_id: uuid.UUID,
    order_id: uuid.UUID,
    number: int,
    cart: Cart,
    totals: Totals,
    customer: Customer | None,
    email: str,
    now: datetime,
    request: CheckoutRequest,
) -> Order:
    return Order(
        store_id=store_id,
        id=order_id,
        number=number,
        status="pending",
        fulfillment_status="unfulfilled",
        currency=totals.currency,
        subtotal=totals.subtotal,
        discount_total=totals.discount_total,
        shipping_total=totals.shipping_total,
        tax_total=totals.tax_total,
        total=totals.total,
        paid_amount=0,
        refunded_amount=0,
        prices_include_tax=totals.prices_include_tax,
        customer_id=customer.id if customer else None,
        email=email,
        customer_snapshot=customer_snapshot(customer, email),
        shipping_address=cart.shipping_address,
        billing_address=cart.billing_address or cart.shipping_address,
        discount_codes=[d.code for d in totals.applied if d.code],
        notes=request.notes,
        tags=[],
        source="storefront",
        ip_address=request.ip_address,
        user_agent=(request.user_agent or "")[:500] or None,
        cart_id=cart.id,
        idempotency_key=request.idempotency_key,
        placed_at=now,
    )
