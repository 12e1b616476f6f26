"""Plans and subscriptions: every store has one, starting on the free plan's trial.

Changing plans (and what needs payment) is ``plans`` and ``plan_checkout``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.billing.models import Plan, Subscription
from storefleet.control.credits import service as credits
from storefleet.errors import InvalidInput, NotFound

DEFAULT_PLAN = "free"
PERIOD = {"monthly": timedelta(days=30), "annual": timedelta(days=365)}


async def list_plans(session: AsyncSession) -> list[Plan]:
    rows = await session.execute(select(Plan).where(Plan.is_active).order_by(Plan.position))
    return list(rows.scalars())


async def plan_by_code(session: AsyncSession, code: str, *, active_only: bool = True) -> Plan:
    plan = (await session.execute(select(Plan).where(Plan.code == code))).scalar_one_or_none()
    if plan is None or (active_only and not plan.is_active):
        raise InvalidInput(f"unknown plan {code!r}", field="plan")
    return plan


async def subscription_of(session: AsyncSession, store_id: uuid.UUID) -> tuple[Subscription, Plan]:
    row = (
        await session.execute(
            select(Subscription, Plan)
            .join(Plan, Plan.id == Subscription.plan_id)
            .where(Subscription.store_id == store_id)
        )
    ).first()
    if row is None:
        raise NotFound("This store has no subscription")
    return row[0], row[1]


async def start_trial(
    session: AsyncSession, store_id: uuid.UUID, account_id: uuid.UUID
) -> Subscription:
    """A new store: free plan trial, a credit balance, and the plan's included credits."""
    plan = await plan_by_code(session, DEFAULT_PLAN)
    now = datetime.now(UTC)
    subscription = Subscription(
        store_id=store_id,
        plan_id=plan.id,
        status="trial",
        billing_cycle="monthly",
        trial_ends_at=now + timedelta(days=plan.trial_days),
        current_period_start=now,
        current_period_end=now + PERIOD["monthly"],
    )
    session.add(subscription)
    await session.flush()
    await credits.ensure_balance(session, store_id, account_id)
    if plan.included_credits:
        await credits.post(
            session,
            store_id=store_id,
            kind="grant",
            amount=plan.included_credits,
            idempotency_key=f"plan:{plan.code}:initial",
            actor="platform",
            reference={"plan": plan.code, "reason": "included credits"},
        )
    return subscription
