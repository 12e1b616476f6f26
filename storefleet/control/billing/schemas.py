"""Request and response bodies of purchases, the Stripe webhook and a store's Stripe keys."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import BaseModel, SecretStr, StringConstraints

from storefleet.schemas import Strict

PackCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class PurchaseIn(Strict):
    store_id: uuid.UUID
    pack: PackCode


class PurchaseOut(BaseModel):
    checkout_url: str
    session_id: str
    billing_transaction_id: uuid.UUID


class WebhookOut(BaseModel):
    received: bool = True
    duplicate: bool
    action: str


class StripeKeysIn(Strict):
    """Secrets arrive as ``SecretStr`` so no repr, log line or error echo can show them."""

    secret_key: SecretStr
    publishable_key: Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
    webhook_secret: SecretStr | None = None


class StripeKeysOut(BaseModel):
    configured: bool
    publishable_key: str | None = None
    livemode: bool | None = None
