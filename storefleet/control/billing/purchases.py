"""Credit packs bought with Stripe Checkout: every attempt recorded, credited only by webhook.

The Stripe webhook's events are dispatched here; those about plans go on to ``plan_events``.

A purchase writes a ``pending`` billing transaction *before* calling Stripe (so even a failed
call leaves a record), then stores the session id. Only a verified webhook moves money: the
event id goes into ``provider_events`` in the same transaction as the ledger post, and the
ledger row's idempotency key is ``stripe:<session id>``, so a replayed event, or two
different events about one session, credit once.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.config import CreditPack, Settings
from storefleet.control.accounts.models import Account
from storefleet.control.billing import plan_events
from storefleet.control.billing.models import BillingTransaction, ProviderEvent
from storefleet.control.billing.plan_events import EventResult
from storefleet.control.billing.stripe_gateway import PaymentProviderError, StripeGateway
from storefleet.control.credits import service as credits
from storefleet.errors import InvalidInput, ServiceUnavailable

log = logging.getLogger(__name__)

PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


@dataclass(frozen=True)
class PurchaseStarted:
    billing_transaction_id: uuid.UUID
    session_id: str
    checkout_url: str


def pack_for(settings: Settings, code: str) -> CreditPack:
    pack = settings.credit_packs.get(code)
    if pack is None:
        choices = ", ".join(sorted(settings.credit_packs)) or "none configured"
        raise InvalidInput(f"unknown pack {code!r} (choose one of: {choices})", field="pack")
    return pack


async def start_purchase(
    control_sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    account: Account,
    store_id: uuid.UUID,
    pack_code: str,
) -> PurchaseStarted:
    """Record the attempt, open a Checkout Session, remember its id. The caller owns the store."""
    pack = pack_for(settings, pack_code)
    gateway = StripeGateway.from_settings(settings)
    async with control_sessions() as session, session.begin():
        tx = BillingTransaction(
            store_id=store_id,
            account_id=account.id,
            provider="stripe",
            purpose="credit_pack",
            pack=pack_code,
            credits=pack.credits,
            amount=pack.amount,
            currency=pack.currency,
            status="pending",
            data={},
        )
        session.add(tx)
        await session.flush()
        tx_id = tx.id
    try:
        checkout = await gateway.create_checkout_session(
            store_id=store_id,
            pack_code=pack_code,
            pack=pack,
            billing_transaction_id=tx_id,
            customer_email=account.email,
        )
    except PaymentProviderError as exc:
        async with control_sessions() as session, session.begin():
            row = await session.get(BillingTransaction, tx_id, with_for_update=True)
            if row is not None:
                row.status = "failed"
                row.data = {**row.data, "error": exc.reason}
        log.warning("checkout session for billing transaction %s failed: %s", tx_id, exc.reason)
        raise ServiceUnavailable(
            "The payment provider could not start a checkout; try again shortly",
            retry_after=5,
        ) from None
    async with control_sessions() as session, session.begin():
        row = await session.get(BillingTransaction, tx_id, with_for_update=True)
        assert row is not None
        if row.provider_session_id is None:
            row.provider_session_id = checkout.id
        row.data = {**row.data, "checkout_url": checkout.url}
    return PurchaseStarted(tx_id, checkout.id, checkout.url)


@dataclass(frozen=True)
class WebhookOutcome:
    event_id: str
    duplicate: bool
    action: str
    store_id: uuid.UUID | None = None
    replaced_provider_subscription: str | None = None


async def _transaction_for(
    session: AsyncSession, *, session_id: str | None, metadata: dict[str, Any]
) -> BillingTransaction | None:
    """The attempt an event is about: by session id, else by our id in the metadata."""
    if session_id:
        row = (
            await session.execute(
                select(BillingTransaction)
                .where(BillingTransaction.provider_session_id == session_id)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if row is not None:
            return row
    raw = metadata.get("billing_transaction_id") if isinstance(metadata, dict) else None
    try:
        tx_id = uuid.UUID(str(raw))
    except ValueError:
        return None
    row = await session.get(BillingTransaction, tx_id, with_for_update=True)
    if row is None:
        return None
    if session_id and row.provider_session_id not in (None, session_id):
        return None
    if session_id and row.provider_session_id is None:
        # The purchase crashed between Stripe's answer and saving the session id.
        row.provider_session_id = session_id
    return row


async def _paid(session: AsyncSession, event: dict[str, Any], obj: dict[str, Any]) -> EventResult:
    event_id = str(event["id"])
    session_id = obj.get("id")
    if not isinstance(session_id, str):
        return EventResult("ignored: no session id")
    tx = await _transaction_for(session, session_id=session_id, metadata=obj.get("metadata") or {})
    if tx is None:
        log.warning("paid checkout session %s matches no billing transaction", session_id)
        return EventResult("ignored: unknown session")
    if obj.get("payment_status") != "paid":
        return EventResult("pending: not paid yet", tx.store_id)
    amount, currency = obj.get("amount_total"), str(obj.get("currency") or "").lower()
    if amount != tx.amount or currency != tx.currency.lower():
        # Never credit what was not paid for: the session's total must be the recorded price.
        if tx.status == "succeeded":
            return EventResult("ignored: already applied", tx.store_id)
        tx.status = "failed"
        tx.data = {**tx.data, "error": f"paid {amount} {currency}, expected {tx.amount}"}
        log.warning("checkout session %s paid an unexpected amount", session_id)
        return EventResult("refused: amount mismatch", tx.store_id)
    if tx.purpose == plan_events.PURPOSE:
        return await plan_events.checkout_paid(session, tx, obj, event)
    tx.status = "succeeded"
    if isinstance(obj.get("payment_intent"), str):
        tx.provider_payment_id = obj["payment_intent"]
    tx.data = {**tx.data, "paid_event": event_id}
    await credits.post(
        session,
        store_id=tx.store_id,
        kind="purchase",
        amount=tx.credits,
        idempotency_key=f"stripe:{session_id}",
        actor="stripe",
        reference={
            "billing_transaction_id": str(tx.id),
            "provider_session_id": session_id,
            "pack": tx.pack,
            "event_id": event_id,
        },
    )
    return EventResult("credited", tx.store_id)


async def _closed(
    session: AsyncSession, obj: dict[str, Any], status: str, *, by_payment_intent: bool
) -> EventResult:
    metadata = obj.get("metadata") or {}
    session_id = None if by_payment_intent else obj.get("id")
    tx = await _transaction_for(session, session_id=session_id, metadata=metadata)
    if tx is None and by_payment_intent and isinstance(obj.get("id"), str):
        tx = (
            await session.execute(
                select(BillingTransaction)
                .where(BillingTransaction.provider_payment_id == obj["id"])
                .with_for_update()
            )
        ).scalar_one_or_none()
    if tx is None:
        return EventResult("ignored: unknown payment")
    if tx.status == "succeeded":
        return EventResult("ignored: already paid", tx.store_id)
    tx.status = status
    if by_payment_intent and isinstance(obj.get("id"), str):
        tx.provider_payment_id = obj["id"]
        failure = obj.get("last_payment_error")
        error = failure.get("code") if isinstance(failure, dict) else None
        if error:
            tx.data = {**tx.data, "error": str(error)}
    return EventResult(status, tx.store_id)


async def handle_event(
    control_sessions: async_sessionmaker[AsyncSession], event: dict[str, Any]
) -> WebhookOutcome:
    """Apply one verified event exactly once (by event id), in one control transaction."""
    event_id, event_type = str(event["id"]), str(event["type"])
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        obj = {}
    async with control_sessions() as session, session.begin():
        fresh = (
            await session.execute(
                insert(ProviderEvent)
                .values(event_id=event_id, provider="stripe", type=event_type)
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(ProviderEvent.event_id)
            )
        ).scalar_one_or_none()
        if fresh is None:
            return WebhookOutcome(event_id, True, "duplicate")
        if event_type in PAID_EVENTS:
            result = await _paid(session, event, obj)
        elif event_type == "checkout.session.expired":
            result = await _closed(session, obj, "expired", by_payment_intent=False)
        elif event_type == "checkout.session.async_payment_failed":
            result = await _closed(session, obj, "failed", by_payment_intent=False)
        elif event_type == "payment_intent.payment_failed":
            result = await _closed(session, obj, "failed", by_payment_intent=True)
        elif event_type == "invoice.paid":
            result = await plan_events.invoice_paid(session, event_id, obj)
        elif event_type == "customer.subscription.deleted":
            result = await plan_events.subscription_deleted(session, obj)
        else:
            result = EventResult("ignored: event type")
    return WebhookOutcome(
        event_id, False, result.action, result.store_id, result.replaced_provider_subscription
    )
