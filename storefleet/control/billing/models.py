"""Plans, one subscription per store, payment attempts and processed provider events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import ControlBase, created_at, updated_at, uuid_pk


class Plan(ControlBase):
    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint("monthly_price >= 0 AND annual_price >= 0", name="prices"),
        CheckConstraint("included_credits >= 0", name="credits"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False, default="USD")
    monthly_price: Mapped[int] = mapped_column(BigInteger, nullable=False)
    annual_price: Mapped[int] = mapped_column(BigInteger, nullable=False)
    included_credits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_products: Mapped[int | None] = mapped_column(Integer)
    max_orders_per_month: Mapped[int | None] = mapped_column(Integer)
    max_storage_mb: Mapped[int | None] = mapped_column(Integer)
    max_api_calls_per_month: Mapped[int | None] = mapped_column(Integer)
    max_api_calls_per_minute: Mapped[int | None] = mapped_column(Integer)
    trial_days: Mapped[int] = mapped_column(Integer, nullable=False, default=14)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Subscription(ControlBase):
    __tablename__ = "subscriptions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('trial', 'active', 'cancelled', 'expired', 'suspended')", name="status"
        ),
        CheckConstraint("billing_cycle IN ('monthly', 'annual')", name="cycle"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    store_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("stores.id", ondelete="CASCADE"), unique=True, nullable=False
    )
    plan_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("plans.id", ondelete="RESTRICT"), nullable=False
    )
    status: Mapped[str] = mapped_column(Text, nullable=False, default="trial")
    billing_cycle: Mapped[str] = mapped_column(Text, nullable=False, default="monthly")
    trial_ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    current_period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    current_period_end: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when Stripe bills the plan: renewals and cancellations arrive for this id.
    provider_subscription_id: Mapped[str | None] = mapped_column(Text, unique=True)
    provider_customer_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class BillingTransaction(ControlBase):
    """Every payment attempt with a provider (credit packs, plan charges)."""

    __tablename__ = "billing_transactions"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'succeeded', 'failed', 'expired')", name="status"),
        CheckConstraint("amount >= 0", name="amount"),
        # One open plan checkout per store: concurrent plan changes share it.
        Index(
            "uq_billing_transactions_open_plan_checkout",
            "store_id",
            unique=True,
            postgresql_where=text("purpose = 'subscription' AND status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    store_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
    )
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    provider: Mapped[str] = mapped_column(Text, nullable=False, default="stripe")
    purpose: Mapped[str] = mapped_column(Text, nullable=False, default="credit_pack")
    pack: Mapped[str | None] = mapped_column(Text)
    credits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, default="pending")
    provider_session_id: Mapped[str | None] = mapped_column(Text, unique=True)
    provider_payment_id: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ProviderEvent(ControlBase):
    """Webhook events already processed: a replay of the same event id changes nothing."""

    __tablename__ = "provider_events"

    event_id: Mapped[str] = mapped_column(Text, primary_key=True)
    provider: Mapped[str] = mapped_column(Text, nullable=False, default="stripe")
    type: Mapped[str] = mapped_column(Text, nullable=False)
    received_at: Mapped[datetime] = created_at()


class StorePaymentCredential(ControlBase):
    """A store's own Stripe keys ("Setup Stripe"): secrets encrypted, store id as AAD."""

    __tablename__ = "store_payment_credentials"

    store_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(Text, nullable=False, default="stripe")
    publishable_key: Mapped[str] = mapped_column(Text, nullable=False)
    livemode: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
