"""The one place that talks to Stripe, through the official SDK.

Checkout Sessions (credit packs in payment mode, plans in subscription mode) and
subscription cancellations go through a ``StripeClient`` per call (they are rare, and a
short-lived client needs no lifecycle), pointed at ``stripe_api_base`` so tests can run the
real SDK against a local server. Webhooks are verified with ``stripe.Webhook``: a bad or
stale signature (older than ``WEBHOOK_TOLERANCE`` seconds) never reaches the ledger.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe

from storefleet.config import CreditPack, Settings
from storefleet.errors import BadRequest, ServiceUnavailable

log = logging.getLogger(__name__)

WEBHOOK_TOLERANCE = 300
INTERVALS = {"monthly": "month", "annual": "year"}
NOT_CONFIGURED = (
    "Payments are not configured on this platform: set STOREFLEET_STRIPE_SECRET_KEY and "
    "STOREFLEET_STRIPE_WEBHOOK_SECRET (a platform admin can grant credits meanwhile with "
    "`storefleet credits grant`)"
)


class PaymentProviderError(Exception):
    """Stripe refused or could not be reached; ``reason`` is safe to store and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    payment_status: str


@dataclass(frozen=True)
class PlanCheckoutOrder:
    """Everything a plan's Checkout Session is made of (all from the billing transaction)."""

    store_id: uuid.UUID
    billing_transaction_id: uuid.UUID
    plan_code: str
    plan_name: str
    billing_cycle: str
    amount: int
    currency: str
    expires_at: datetime
    customer_email: str | None


@dataclass(frozen=True)
class StripeGateway:
    secret_key: str
    api_base: str
    public_base_url: str
    max_network_retries: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> StripeGateway:
        """The platform's gateway, or 503 saying what to set when keys are missing."""
        if settings.stripe_secret_key is None or settings.stripe_webhook_secret is None:
            raise ServiceUnavailable(NOT_CONFIGURED)
        return cls(
            secret_key=settings.stripe_secret_key.get_secret_value(),
            api_base=settings.stripe_api_base.rstrip("/"),
            public_base_url=settings.public_base_url.rstrip("/"),
        )

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[stripe.StripeClient]:
        """A short-lived SDK client; Stripe's errors become ``PaymentProviderError``."""
        http_client = stripe.HTTPXClient(timeout=20)
        client = stripe.StripeClient(
            self.secret_key,
            base_addresses={"api": self.api_base},
            max_network_retries=self.max_network_retries,
            http_client=http_client,
        )
        try:
            yield client
        except stripe.StripeError as exc:
            raise PaymentProviderError(
                f"{type(exc).__name__}: {exc.user_message or 'request failed'}"
            ) from None
        finally:
            await http_client.close_async()

    def _urls(self) -> dict[str, str]:
        return {
            "success_url": (
                f"{self.public_base_url}/billing/success?session_id={{CHECKOUT_SESSION_ID}}"
            ),
            "cancel_url": f"{self.public_base_url}/billing/cancelled",
        }

    async def _create_session(
        self, params: dict[str, Any], idempotency_key: str
    ) -> CheckoutSession:
        async with self._client() as client:
            session = await client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": idempotency_key},
            )
        if not session.id or not session.url:
            raise PaymentProviderError("Stripe returned a session without id or url")
        return CheckoutSession(
            id=session.id, url=session.url, payment_status=session.payment_status or ""
        )

    async def create_checkout_session(
        self,
        *,
        store_id: uuid.UUID,
        pack_code: str,
        pack: CreditPack,
        billing_transaction_id: uuid.UUID,
        customer_email: str | None,
    ) -> CheckoutSession:
        metadata = {
            "store_id": str(store_id),
            "pack": pack_code,
            "billing_transaction_id": str(billing_transaction_id),
        }
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": pack.currency,
                        "unit_amount": pack.amount,
                        "product_data": {"name": f"{pack.credits} storefleet credits"},
                    },
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "client_reference_id": str(billing_transaction_id),
            **self._urls(),
        }
        if customer_email:
            params["customer_email"] = customer_email
        return await self._create_session(params, f"checkout:{billing_transaction_id}")

    async def create_plan_checkout_session(self, order: PlanCheckoutOrder) -> CheckoutSession:
        """A subscription-mode session; the same order always sends the same request, so
        concurrent callers of one open checkout get Stripe's one session back."""
        metadata = {
            "store_id": str(order.store_id),
            "plan": order.plan_code,
            "billing_cycle": order.billing_cycle,
            "billing_transaction_id": str(order.billing_transaction_id),
        }
        params: dict[str, Any] = {
            "mode": "subscription",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": order.currency.lower(),
                        "unit_amount": order.amount,
                        "recurring": {"interval": INTERVALS[order.billing_cycle]},
                        "product_data": {
                            "name": f"storefleet {order.plan_name} ({order.billing_cycle})"
                        },
                    },
                }
            ],
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
            "client_reference_id": str(order.billing_transaction_id),
            "expires_at": int(order.expires_at.timestamp()),
            **self._urls(),
        }
        if order.customer_email:
            params["customer_email"] = order.customer_email
        return await self._create_session(params, f"plan-checkout:{order.billing_transaction_id}")

    async def cancel_subscription(self, subscription_id: str) -> None:
        """Stop Stripe billing a subscription now; one already gone counts as cancelled."""
        async with self._client() as client:
            try:
                await client.v1.subscriptions.cancel_async(subscription_id)
            except stripe.InvalidRequestError as exc:
                if exc.code != "resource_missing":
                    raise
                log.info("stripe subscription %s was already gone", subscription_id)


def verify_webhook(payload: bytes, signature: str | None, settings: Settings) -> dict[str, Any]:
    """The event, once its ``Stripe-Signature`` checks out; 400 otherwise."""
    if settings.stripe_webhook_secret is None:
        raise ServiceUnavailable(NOT_CONFIGURED)
    if not signature:
        raise BadRequest("Missing Stripe-Signature header")
    try:
        stripe.Webhook.construct_event(
            payload,
            signature,
            settings.stripe_webhook_secret.get_secret_value(),
            tolerance=WEBHOOK_TOLERANCE,
        )
    except stripe.SignatureVerificationError:
        raise BadRequest("Webhook signature is invalid or too old") from None
    except ValueError:
        raise BadRequest("Webhook body is not a Stripe event") from None
    event: dict[str, Any] = json.loads(payload)
    if not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise BadRequest("Webhook body is not a Stripe event")
    return event
