"""A store owner's plan change: applied at once when it costs nothing more, else a Stripe
Checkout Session in subscription mode, and the plan switches only when Stripe says paid.

A store has at most one open plan checkout (a partial unique index on
``billing_transactions``, taken under the subscription's row lock): requests for the same
plan and cycle share it, a request for another plan while one is open is a 409. The Stripe
request is built from that row alone and sent with its idempotency key, so a retry after a
lost answer gets Stripe's same session. What Stripe's webhook then says is
``plan_events``.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.config import Settings
from storefleet.control.accounts.models import Account
from storefleet.control.billing import plans
from storefleet.control.billing.models import BillingTransaction, Plan, Subscription
from storefleet.control.billing.plan_events import PURPOSE
from storefleet.control.billing.service import plan_by_code
from storefleet.control.billing.stripe_gateway import (
    PaymentProviderError,
    PlanCheckoutOrder,
    StripeGateway,
)
from storefleet.errors import Conflict, ServiceUnavailable

log = logging.getLogger(__name__)

CHECKOUT_TTL = timedelta(hours=1)  # Stripe accepts 30 minutes to 24 hours
OPEN_CHECKOUT = text("purpose = 'subscription' AND status = 'pending'")


@dataclass(frozen=True)
class Applied:
    subscription: Subscription
    plan: Plan


@dataclass(frozen=True)
class CheckoutOpened:
    billing_transaction_id: uuid.UUID
    session_id: str
    checkout_url: str
    plan: str
    billing_cycle: str
    expires_at: datetime


def _unreachable(store_id: uuid.UUID, exc: PaymentProviderError) -> ServiceUnavailable:
    log.warning("stripe call for store %s's plan failed: %s", store_id, exc.reason)
    return ServiceUnavailable(
        "The payment provider could not be reached; try again shortly", retry_after=5
    )


async def change_plan(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    store_id: uuid.UUID,
    plan_code: str,
    cycle: str,
) -> Applied | CheckoutOpened:
    """What ``POST /api/stores/{id}/subscription`` does, in the request's control
    transaction (the caller owns the store). The subscription row stays locked until it
    ends, Stripe call included, so one store's plan changes take turns."""
    plans.check_cycle(cycle)
    subscription, current = await plans.locked_subscription(session, store_id)
    target = await plan_by_code(session, plan_code)
    decision = plans.decide(subscription, current, target, cycle, datetime.now(UTC))
    if decision.unchanged:
        return Applied(subscription, current)
    billed = decision.cancels_provider_subscription
    if decision.needs_payment or billed is not None:
        gateway = StripeGateway.from_settings(settings)
        if decision.needs_payment:
            return await _open_checkout(session, gateway, account, store_id, target, cycle)
        assert billed is not None
        try:
            await gateway.cancel_subscription(billed)
        except PaymentProviderError as exc:
            raise _unreachable(store_id, exc) from None
    await plans.switch_without_payment(
        session,
        subscription,
        current,
        target,
        cycle,
        actor_id=account.id,
        actor_label=f"owner:{account.id}",
    )
    return Applied(subscription, target)


def _order(tx: BillingTransaction, plan_name: str, email: str | None) -> PlanCheckoutOrder:
    return PlanCheckoutOrder(
        store_id=tx.store_id,
        billing_transaction_id=tx.id,
        plan_code=tx.data["plan"],
        plan_name=plan_name,
        billing_cycle=tx.data["billing_cycle"],
        amount=tx.amount,
        currency=tx.currency,
        expires_at=datetime.fromisoformat(tx.data["expires_at"]),
        customer_email=email,
    )


async def _open_checkout(
    session: AsyncSession,
    gateway: StripeGateway,
    account: Account,
    store_id: uuid.UUID,
    target: Plan,
    cycle: str,
) -> CheckoutOpened:
    """The store's open checkout for this plan and cycle, or a new one (under the lock)."""
    now = datetime.now(UTC)
    # A checkout past its expiry can no longer be paid: it stops blocking new ones.
    await session.execute(
        update(BillingTransaction)
        .where(
            BillingTransaction.store_id == store_id,
            OPEN_CHECKOUT,
            BillingTransaction.created_at < now - CHECKOUT_TTL,
        )
        .values(status="expired")
    )
    tx = (
        await session.execute(
            select(BillingTransaction).where(BillingTransaction.store_id == store_id, OPEN_CHECKOUT)
        )
    ).scalar_one_or_none()
    if tx is None:
        tx = BillingTransaction(
            store_id=store_id,
            account_id=account.id,
            provider="stripe",
            purpose=PURPOSE,
            credits=target.included_credits,
            amount=plans.price_of(target, cycle),
            currency=target.currency,
            status="pending",
            data={
                "plan": target.code,
                "billing_cycle": cycle,
                "expires_at": (now + CHECKOUT_TTL).replace(microsecond=0).isoformat(),
            },
        )
        session.add(tx)
        await session.flush()
    elif (tx.data.get("plan"), tx.data.get("billing_cycle")) != (target.code, cycle):
        raise Conflict(
            f"A checkout for the {tx.data.get('plan')} plan ({tx.data.get('billing_cycle')}) "
            f"is open until {tx.data.get('expires_at')}; pay it or let it expire first",
            field="plan",
        )
    order = _order(tx, target.name, account.email)
    url = tx.data.get("checkout_url")
    if tx.provider_session_id is None or not isinstance(url, str):
        # On a failure the request's transaction rolls back: no checkout was handed out.
        try:
            checkout = await gateway.create_plan_checkout_session(order)
        except PaymentProviderError as exc:
            raise _unreachable(store_id, exc) from None
        tx.provider_session_id = checkout.id
        tx.data = {**tx.data, "checkout_url": checkout.url}
        url = checkout.url
        await session.flush()
    assert tx.provider_session_id is not None
    return CheckoutOpened(tx.id, tx.provider_session_id, url, target.code, cycle, order.expires_at)
