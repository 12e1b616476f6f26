"""The one place that talks to Stripe, through the official SDK.

Checkout Sessions are created with a ``StripeClient`` per call (purchases are rare, and a
short-lived client needs no lifecycle), pointed at ``stripe_api_base`` so tests can run the
real SDK against a local server. Webhooks are verified with ``stripe.Webhook``: a bad or
stale signature (older than ``WEBHOOK_TOLERANCE`` seconds) never reaches the ledger.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import stripe

from storefleet.config import CreditPack, Settings
from storefleet.errors import BadRequest, ServiceUnavailable

WEBHOOK_TOLERANCE = 300
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
            "success_url": (
                f"{self.public_base_url}/billing/success?session_id={{CHECKOUT_SESSION_ID}}"
            ),
            "cancel_url": f"{self.public_base_url}/billing/cancelled",
        }
        if customer_email:
            params["customer_email"] = customer_email
        http_client = stripe.HTTPXClient(timeout=20)
        client = stripe.StripeClient(
            self.secret_key,
            base_addresses={"api": self.api_base},
            max_network_retries=self.max_network_retries,
            http_client=http_client,
        )
        try:
            session = await client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": f"checkout:{billing_transaction_id}"},
            )
        except stripe.StripeError as exc:
            raise PaymentProviderError(
                f"{type(exc).__name__}: {exc.user_message or 'request failed'}"
            ) from None
        finally:
            await http_client.close_async()
        if not session.id or not session.url:
            raise PaymentProviderError("Stripe returned a session without id or url")
        return CheckoutSession(
            id=session.id, url=session.url, payment_status=session.payment_status or ""
        )


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
