"""Plan changes: which need payment, and a plan's credits granted once per billing period.

The rule (README "Credits, plans"): a change needs payment when the target plan, for the
requested cycle, costs more than what the store has paid up, which is the current plan's
price for that cycle while the subscription is ``active`` and its period runs, else
nothing. A store that Stripe bills changes between paid plans through Checkout as well (its
Stripe subscription is replaced), or Stripe would go on charging the old price. A change
without payment applies at once, keeps the current period and grants nothing, so no
sequence of free changes can make credits or paid time.

Included credits are a ledger grant keyed ``plan-grant:<store>:<plan>:<period start>``:
the ledger's unique (store, idempotency key) is what makes a second grant for the same
period impossible, whatever runs concurrently.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.audit import service as audit
from storefleet.control.billing.models import Plan, Subscription
from storefleet.control.billing.service import PERIOD, plan_by_code
from storefleet.control.credits import service as credits
from storefleet.errors import InvalidInput, NotFound


def price_of(plan: Plan, cycle: str) -> int:
    return plan.annual_price if cycle == "annual" else plan.monthly_price


def grant_key(store_id: uuid.UUID, plan_code: str, period_start: datetime) -> str:
    return f"plan-grant:{store_id}:{plan_code}:{period_start.astimezone(UTC).isoformat()}"


def check_cycle(cycle: str) -> str:
    if cycle not in PERIOD:
        raise InvalidInput("billing_cycle must be monthly or annual", field="billing_cycle")
    return cycle


async def locked_subscription(
    session: AsyncSession, store_id: uuid.UUID
) -> tuple[Subscription, Plan]:
    """The store's subscription row, locked for this transaction, and its plan.

    The row is locked alone, then its plan read: locking a join would lose the row when a
    concurrent change moved ``plan_id`` (PostgreSQL rechecks the join against the old plan).
    """
    subscription = (
        await session.execute(
            select(Subscription)
            .where(Subscription.store_id == store_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if subscription is None:
        raise NotFound("This store has no subscription")
    plan = await session.get(Plan, subscription.plan_id)
    assert plan is not None
    return subscription, plan


@dataclass(frozen=True)
class Decision:
    unchanged: bool
    needs_payment: bool
    cancels_provider_subscription: str | None  # Stripe stops billing before the change


def decide(
    subscription: Subscription, current: Plan, target: Plan, cycle: str, now: datetime
) -> Decision:
    if current.id == target.id and subscription.billing_cycle == cycle:
        return Decision(True, False, None)
    billed = subscription.provider_subscription_id
    if price_of(target, cycle) == 0:
        return Decision(False, False, billed)
    if billed is not None:
        return Decision(False, True, None)
    paid_up = subscription.status == "active" and subscription.current_period_end > now
    covered = price_of(current, cycle) if paid_up else 0
    return Decision(False, price_of(target, cycle) > covered, None)


def snapshot(subscription: Subscription, plan: Plan) -> dict[str, Any]:
    return {
        "plan": plan.code,
        "billing_cycle": subscription.billing_cycle,
        "status": subscription.status,
        "current_period_start": subscription.current_period_start.isoformat(),
        "current_period_end": subscription.current_period_end.isoformat(),
        "provider_subscription_id": subscription.provider_subscription_id,
    }


async def switch_without_payment(
    session: AsyncSession,
    subscription: Subscription,
    current: Plan,
    target: Plan,
    cycle: str,
    *,
    actor_id: uuid.UUID | None,
    actor_label: str,
) -> None:
    """The plan and cycle change now; the period, and what was granted for it, stay."""
    before = snapshot(subscription, current)
    subscription.plan_id = target.id
    subscription.billing_cycle = cycle
    if price_of(target, cycle) == 0:
        subscription.provider_subscription_id = None
        subscription.provider_customer_id = None
    await session.flush()
    await audit.record(
        session,
        action="subscription.plan_changed",
        entity_type="store",
        entity_id=subscription.store_id,
        actor_id=actor_id,
        actor_label=actor_label,
        before=before,
        after=snapshot(subscription, target),
    )


async def start_period(
    session: AsyncSession,
    subscription: Subscription,
    plan: Plan,
    cycle: str,
    start: datetime,
    *,
    end: datetime | None = None,
    actor: str,
    reason: str,
) -> credits.Posted | None:
    """Put the store on ``plan`` for the period from ``start``, with its credits granted once."""
    subscription.plan_id = plan.id
    subscription.billing_cycle = cycle
    subscription.status = "active"
    subscription.cancelled_at = None
    subscription.current_period_start = start
    subscription.current_period_end = end or start + PERIOD[cycle]
    await session.flush()
    if not plan.included_credits:
        return None
    return await credits.post(
        session,
        store_id=subscription.store_id,
        kind="grant",
        amount=plan.included_credits,
        idempotency_key=grant_key(subscription.store_id, plan.code, start),
        actor=actor,
        reference={
            "plan": plan.code,
            "billing_cycle": cycle,
            "period_start": start.astimezone(UTC).isoformat(),
            "reason": reason,
        },
    )


@dataclass(frozen=True)
class AdminSet:
    subscription: Subscription
    plan: Plan
    granted: credits.Posted | None
    replaced_provider_subscription: str | None


async def admin_set(
    session: AsyncSession, store_id: uuid.UUID, plan_code: str, cycle: str, *, actor_label: str
) -> AdminSet:
    """A platform admin puts the store on any plan without payment (audited).

    The same plan and cycle while its period runs keeps that period, so repeating the
    command grants nothing more; anything else starts a new period now.
    """
    check_cycle(cycle)
    subscription, current = await locked_subscription(session, store_id)
    target = await plan_by_code(session, plan_code, active_only=False)
    now = datetime.now(UTC)
    before = snapshot(subscription, current)
    running = (
        current.id == target.id
        and subscription.billing_cycle == cycle
        and subscription.status == "active"
        and subscription.current_period_end > now
    )
    start = subscription.current_period_start if running else now
    end = subscription.current_period_end if running else None
    replaced = None if running else subscription.provider_subscription_id
    if replaced is not None:
        subscription.provider_subscription_id = None
        subscription.provider_customer_id = None
    granted = await start_period(
        session, subscription, target, cycle, start, end=end, actor=actor_label, reason="admin set"
    )
    await audit.record(
        session,
        action="subscription.plan_set",
        entity_type="store",
        entity_id=store_id,
        actor_id=None,
        actor_label=actor_label,
        before=before,
        after=snapshot(subscription, target)
        | {"granted": granted.transaction.amount if granted and granted.created else 0},
    )
    return AdminSet(subscription, target, granted, replaced)
