"""Stripe's word on plans, from the webhook (deduplicated by event id in ``purchases``).

``checkout.session.completed`` (paid) starts the paid period at the event's own time and
grants the plan's credits; ``invoice.paid`` for a renewal starts the next period from the
invoice's line; ``customer.subscription.deleted`` puts the store back on the free plan. A
replay, or a second event about the same payment, names the same period and so the same
grant key: the ledger grants once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.audit import service as audit
from storefleet.control.billing import plans
from storefleet.control.billing.models import BillingTransaction, Plan, Subscription
from storefleet.control.billing.service import DEFAULT_PLAN, plan_by_code
from storefleet.control.stores.models import Store

log = logging.getLogger(__name__)

PURPOSE = "subscription"
RENEWAL = "subscription_renewal"


@dataclass(frozen=True)
class EventResult:
    action: str
    store_id: uuid.UUID | None = None
    replaced_provider_subscription: str | None = None


def _id_of(value: object) -> str | None:
    """Stripe sends a related object as its id, or expanded as an object with an id."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


async def checkout_paid(
    session: AsyncSession, tx: BillingTransaction, obj: dict[str, Any], event: dict[str, Any]
) -> EventResult:
    """A paid subscription-mode session (amount already checked against ``tx``)."""
    if tx.status == "succeeded":
        return EventResult("ignored: already applied", tx.store_id)
    created = event.get("created")
    # The event's own time, so a replay of it names the same period (and grant key).
    paid_at = datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None
    if paid_at is None:
        return EventResult("refused: event without time", tx.store_id)
    subscription, current = await plans.locked_subscription(session, tx.store_id)
    target = await plan_by_code(session, str(tx.data.get("plan")), active_only=False)
    cycle = str(tx.data.get("billing_cycle"))
    before = plans.snapshot(subscription, current)
    provider_subscription = _id_of(obj.get("subscription"))
    replaced = subscription.provider_subscription_id
    await plans.start_period(
        session, subscription, target, cycle, paid_at, actor="stripe", reason="plan paid"
    )
    subscription.provider_subscription_id = provider_subscription
    subscription.provider_customer_id = _id_of(obj.get("customer"))
    tx.status = "succeeded"
    tx.provider_payment_id = provider_subscription
    tx.data = {**tx.data, "paid_event": event["id"], "period_start": paid_at.isoformat()}
    await audit.record(
        session,
        action="subscription.plan_paid",
        entity_type="store",
        entity_id=tx.store_id,
        actor_id=None,
        actor_label="stripe",
        before=before,
        after=plans.snapshot(subscription, target),
    )
    return EventResult(
        "subscribed", tx.store_id, replaced if replaced != provider_subscription else None
    )


async def _billed_subscription(
    session: AsyncSession, provider_id: str | None
) -> Subscription | None:
    if provider_id is None:
        return None
    return (
        await session.execute(
            select(Subscription)
            .where(Subscription.provider_subscription_id == provider_id)
            .with_for_update()
        )
    ).scalar_one_or_none()


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """``invoice.subscription`` (older API versions) or ``parent.subscription_details``."""
    found = _id_of(invoice.get("subscription"))
    parent = invoice.get("parent")
    if found is None and isinstance(parent, dict):
        details = parent.get("subscription_details")
        if isinstance(details, dict):
            found = _id_of(details.get("subscription"))
    return found


def _line_period(invoice: dict[str, Any]) -> tuple[datetime, datetime] | None:
    lines = invoice.get("lines")
    data = lines.get("data") if isinstance(lines, dict) else None
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    period = first.get("period")
    if not isinstance(period, dict):
        return None
    start, end = period.get("start"), period.get("end")
    if not isinstance(start, int) or not isinstance(end, int) or end <= start:
        return None
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)


async def invoice_paid(
    session: AsyncSession, event_id: str, invoice: dict[str, Any]
) -> EventResult:
    """A renewal: the next period from the invoice, with the plan's credits once for it."""
    if invoice.get("billing_reason") != "subscription_cycle":
        return EventResult("ignored: not a renewal")  # the first period comes with checkout
    subscription = await _billed_subscription(session, _invoice_subscription(invoice))
    if subscription is None:
        return EventResult("ignored: unknown subscription")
    period = _line_period(invoice)
    plan = await session.get(Plan, subscription.plan_id)
    assert plan is not None
    currency = str(invoice.get("currency") or "").lower()
    if period is None or currency != plan.currency.lower() or invoice.get("status") != "paid":
        log.warning(
            "renewal invoice %s for store %s refused", invoice.get("id"), subscription.store_id
        )
        return EventResult("refused: invoice", subscription.store_id)
    await plans.start_period(
        session,
        subscription,
        plan,
        subscription.billing_cycle,
        period[0],
        end=period[1],
        actor="stripe",
        reason="renewal",
    )
    invoice_id = _id_of(invoice.get("id"))
    seen = await session.scalar(
        select(BillingTransaction.id).where(
            BillingTransaction.purpose == RENEWAL,
            BillingTransaction.provider_payment_id == invoice_id,
        )
    )
    if seen is None:
        session.add(
            BillingTransaction(
                store_id=subscription.store_id,
                account_id=await session.scalar(
                    select(Store.owner_id).where(Store.id == subscription.store_id)
                ),
                provider="stripe",
                purpose=RENEWAL,
                credits=plan.included_credits,
                amount=int(invoice.get("amount_paid") or 0),
                currency=plan.currency,
                status="succeeded",
                provider_payment_id=invoice_id,
                data={
                    "plan": plan.code,
                    "billing_cycle": subscription.billing_cycle,
                    "period_start": period[0].isoformat(),
                    "paid_event": event_id,
                },
            )
        )
    return EventResult("renewed", subscription.store_id)


async def subscription_deleted(session: AsyncSession, obj: dict[str, Any]) -> EventResult:
    """Stripe stopped billing (cancelled, or unpaid for too long): back to the free plan."""
    subscription = await _billed_subscription(session, _id_of(obj.get("id")))
    if subscription is None:
        return EventResult("ignored: unknown subscription")
    current = await session.get(Plan, subscription.plan_id)
    assert current is not None
    before = plans.snapshot(subscription, current)
    free = await plan_by_code(session, DEFAULT_PLAN, active_only=False)
    subscription.plan_id = free.id
    subscription.billing_cycle = "monthly"
    subscription.status = "cancelled"
    subscription.cancelled_at = datetime.now(UTC)
    subscription.provider_subscription_id = None
    subscription.provider_customer_id = None
    await session.flush()
    await audit.record(
        session,
        action="subscription.cancelled",
        entity_type="store",
        entity_id=subscription.store_id,
        actor_id=None,
        actor_label="stripe",
        before=before,
        after=plans.snapshot(subscription, free),
    )
    return EventResult("cancelled", subscription.store_id)
