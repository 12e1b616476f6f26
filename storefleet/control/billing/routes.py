"""Buying credit packs with Stripe, the Stripe webhook, and a store's own Stripe keys."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response

from storefleet.api.deps import ControlSession, CurrentCaller, RuntimeDep
from storefleet.api.store_access import CanManageStripeKeys
from storefleet.config import Settings
from storefleet.control.billing import credentials, purchases
from storefleet.control.billing.schemas import (
    PurchaseIn,
    PurchaseOut,
    StripeKeysIn,
    StripeKeysOut,
    WebhookOut,
)
from storefleet.control.billing.stripe_gateway import (
    PaymentProviderError,
    StripeGateway,
    verify_webhook,
)
from storefleet.control.stores import service as stores

log = logging.getLogger(__name__)
router = APIRouter(tags=["billing"])
LEDGER_ACTIONS = ("credited", "subscribed", "renewed")
PLAN_ACTIONS = ("subscribed", "renewed", "cancelled")


@router.post("/api/credits/purchase", status_code=201, response_model=PurchaseOut)
async def purchase(
    body: PurchaseIn, caller: CurrentCaller, session: ControlSession, runtime: RuntimeDep
) -> PurchaseOut:
    """Open a Stripe Checkout Session for a credit pack; credits arrive with the webhook."""
    await stores.owned_store(session, caller.account, body.store_id)
    started = await purchases.start_purchase(
        runtime.control_sessions, runtime.settings, caller.account, body.store_id, body.pack
    )
    return PurchaseOut(
        checkout_url=started.checkout_url,
        session_id=started.session_id,
        billing_transaction_id=started.billing_transaction_id,
    )


@router.post("/api/billing/stripe/webhook", response_model=WebhookOut)
async def stripe_webhook(request: Request, runtime: RuntimeDep) -> WebhookOut:
    """Signed by Stripe (checked before anything else); each event id is applied once."""
    event = verify_webhook(
        await request.body(), request.headers.get("stripe-signature"), runtime.settings
    )
    outcome = await purchases.handle_event(runtime.control_sessions, event)
    if outcome.action in LEDGER_ACTIONS:
        if runtime.credit_outbox is not None:
            runtime.credit_outbox.wake()
    if outcome.action in PLAN_ACTIONS and outcome.store_id is not None:
        runtime.plan_limits.invalidate(outcome.store_id)
    if outcome.replaced_provider_subscription is not None:
        await _stop_billing(runtime.settings, outcome.replaced_provider_subscription)
    return WebhookOut(duplicate=outcome.duplicate, action=outcome.action)


async def _stop_billing(settings: Settings, provider_subscription: str) -> None:
    """A paid plan replaced an older Stripe subscription: Stripe must stop charging it."""
    try:
        await StripeGateway.from_settings(settings).cancel_subscription(provider_subscription)
    except PaymentProviderError as exc:
        log.error(
            "stripe subscription %s was replaced but not cancelled (%s): cancel it in Stripe",
            provider_subscription,
            exc.reason,
        )


def _keys_out(status: credentials.StripeKeysStatus) -> StripeKeysOut:
    return StripeKeysOut(
        configured=status.configured,
        publishable_key=status.publishable_key,
        livemode=status.livemode,
    )


@router.put("/api/stores/{store_id}/stripe-keys", response_model=StripeKeysOut)
async def put_stripe_keys(
    body: StripeKeysIn, ctx: CanManageStripeKeys, session: ControlSession, runtime: RuntimeDep
) -> StripeKeysOut:
    """Onboarding "Setup Stripe": stored encrypted, never returned."""
    status = await credentials.put_stripe_keys(
        session,
        runtime.keyring,
        ctx.store_id,
        secret_key=body.secret_key.get_secret_value(),
        publishable_key=body.publishable_key,
        webhook_secret=body.webhook_secret.get_secret_value() if body.webhook_secret else None,
        actor_id=ctx.actor_id,
    )
    return _keys_out(status)


@router.get("/api/stores/{store_id}/stripe-keys", response_model=StripeKeysOut)
async def get_stripe_keys(ctx: CanManageStripeKeys, session: ControlSession) -> StripeKeysOut:
    return _keys_out(await credentials.stripe_keys_status(session, ctx.store_id))


@router.delete("/api/stores/{store_id}/stripe-keys", status_code=204)
async def delete_stripe_keys(ctx: CanManageStripeKeys, session: ControlSession) -> Response:
    await credentials.delete_stripe_keys(session, ctx.store_id, actor_id=ctx.actor_id)
    return Response(status_code=204)
