"""Credits: spend, the tenant's cached balance, the ledger's truth, plans and prices."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import JSONResponse

from storefleet.api.deps import ControlSession, CurrentCaller, RuntimeDep
from storefleet.api.store_access import CanManageSubscription, CanSpendCredits, CanViewBilling
from storefleet.api.unit_of_work import TenantReader
from storefleet.control.billing import limits, plan_checkout
from storefleet.control.billing import service as billing
from storefleet.control.credits import service, tenant_copy
from storefleet.control.credits.schemas import (
    BalanceOut,
    CachedBalanceOut,
    CostIn,
    CostOut,
    LedgerPage,
    LedgerRow,
    PlanChangeIn,
    PlanCheckoutOut,
    PlanOut,
    SpendIn,
    SpendOut,
    SubscriptionOut,
)
from storefleet.control.stores import service as stores
from storefleet.errors import PermissionDenied

router = APIRouter(tags=["credits"])


@router.post("/api/stores/{store_id}/credits/spend", response_model=SpendOut)
async def spend(body: SpendIn, ctx: CanSpendCredits, runtime: RuntimeDep) -> SpendOut:
    """Debit the service's price atomically; the same idempotency key never debits twice."""
    posted = await service.spend(
        runtime.control_sessions,
        ctx.store_id,
        body.service,
        idempotency_key=body.idempotency_key,
        actor=ctx.actor_label,
    )
    if runtime.credit_outbox is not None:
        runtime.credit_outbox.wake()
    return SpendOut(
        transaction=LedgerRow.model_validate(posted.transaction),
        balance=posted.transaction.balance_after,
        replayed=not posted.created,
    )


@router.get("/api/stores/{store_id}/credits", response_model=CachedBalanceOut)
async def cached_balance(ctx: CanViewBilling, session: TenantReader) -> CachedBalanceOut:
    """Fast: the store's own cached copy, with how old it is."""
    cache = await tenant_copy.cached_balance(session, ctx.store_id)
    if cache is None:
        return CachedBalanceOut(balance=0, ledger_seq=0, synced_at=None, age_seconds=None)
    age = (datetime.now(UTC) - cache.synced_at).total_seconds()
    return CachedBalanceOut(
        balance=cache.balance,
        ledger_seq=cache.ledger_seq,
        synced_at=cache.synced_at,
        age_seconds=round(age, 3),
    )


@router.get("/api/stores/{store_id}/credits/transactions", response_model=LedgerPage)
async def ledger(
    ctx: CanViewBilling,
    session: ControlSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> LedgerPage:
    rows = await service.transactions(session, ctx.store_id, limit=limit, offset=offset)
    page: LedgerPage = LedgerPage.of(rows)
    return page


@router.get("/api/credits/balance", response_model=BalanceOut)
async def balance(
    store_id: Annotated[uuid.UUID, Query()], caller: CurrentCaller, session: ControlSession
) -> BalanceOut:
    """The truth, from the control-plane ledger."""
    await stores.owned_store(session, caller.account, store_id)
    row = await service.balance_of(session, store_id)
    return BalanceOut(store_id=store_id, balance=row.balance, updated_at=row.updated_at)


@router.get("/api/plans", response_model=list[PlanOut])
async def plans(session: ControlSession) -> list[PlanOut]:
    return [PlanOut.model_validate(p) for p in await billing.list_plans(session)]


def _subscription_out(subscription: object, plan: object) -> SubscriptionOut:
    return SubscriptionOut(
        plan=PlanOut.model_validate(plan),
        status=subscription.status,  # type: ignore[attr-defined]
        billing_cycle=subscription.billing_cycle,  # type: ignore[attr-defined]
        trial_ends_at=subscription.trial_ends_at,  # type: ignore[attr-defined]
        current_period_start=subscription.current_period_start,  # type: ignore[attr-defined]
        current_period_end=subscription.current_period_end,  # type: ignore[attr-defined]
    )


@router.get("/api/stores/{store_id}/subscription", response_model=SubscriptionOut)
async def subscription(ctx: CanViewBilling, session: ControlSession) -> SubscriptionOut:
    return _subscription_out(*await billing.subscription_of(session, ctx.store_id))


@router.post(
    "/api/stores/{store_id}/subscription",
    response_model=SubscriptionOut,
    responses={202: {"model": PlanCheckoutOut, "description": "Pay to switch: a Checkout"}},
)
async def change_plan(
    body: PlanChangeIn, ctx: CanManageSubscription, session: ControlSession, runtime: RuntimeDep
) -> Response:
    """200: switched now (it costs nothing more). 202: a Stripe Checkout to pay first; the
    plan switches when Stripe's webhook confirms. 503: payments are not configured."""
    assert ctx.account is not None
    outcome = await plan_checkout.change_plan(
        session,
        runtime.settings,
        ctx.account,
        ctx.store_id,
        body.plan,
        body.billing_cycle,
    )
    if isinstance(outcome, plan_checkout.CheckoutOpened):
        opened = PlanCheckoutOut(
            checkout_url=outcome.checkout_url,
            session_id=outcome.session_id,
            billing_transaction_id=outcome.billing_transaction_id,
            plan=outcome.plan,
            billing_cycle=outcome.billing_cycle,
            expires_at=outcome.expires_at,
        )
        return JSONResponse(opened.model_dump(mode="json"), status_code=202)
    limits.invalidate_after_commit(session, runtime.plan_limits, ctx.store_id)
    out = _subscription_out(outcome.subscription, outcome.plan)
    return JSONResponse(out.model_dump(mode="json"))


async def platform_admin(caller: CurrentCaller) -> CurrentCaller:
    if caller.account.account_type != "platform_admin":
        raise PermissionDenied("Only platform administrators manage service prices")
    return caller


@router.get("/api/admin/credit-costs", response_model=list[CostOut])
async def list_costs(
    session: ControlSession, _: Annotated[object, Depends(platform_admin)]
) -> list[CostOut]:
    return [CostOut.model_validate(c) for c in await service.list_costs(session)]


@router.post("/api/admin/credit-costs", status_code=201, response_model=CostOut)
async def set_cost(
    body: CostIn, session: ControlSession, _: Annotated[object, Depends(platform_admin)]
) -> CostOut:
    row = await service.set_cost(
        session,
        body.service,
        body.cost,
        description=body.description,
        is_active=body.is_active,
        effective_from=body.effective_from,
    )
    return CostOut.model_validate(row)
