"""The credit ledger (source of truth), service prices, and the outbox to tenant caches."""

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
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import ControlBase, created_at, updated_at, uuid_pk

LEDGER_KINDS = ("purchase", "spend", "refund", "grant", "adjustment", "expiry")


class CreditBalance(ControlBase):
    """One balance per store, owned by its account; always the sum of its ledger."""

    __tablename__ = "credit_balances"
    __table_args__ = (CheckConstraint("balance >= 0", name="not_negative"),)

    store_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("accounts.id", ondelete="RESTRICT"), nullable=False
    )
    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    updated_at: Mapped[datetime] = updated_at()


class CreditTransaction(ControlBase):
    """Append-only ledger row; ``seq`` orders a store's history for the tenant cache."""

    __tablename__ = "credit_transactions"
    __table_args__ = (
        UniqueConstraint("store_id", "idempotency_key"),
        CheckConstraint(
            "kind IN ('purchase', 'spend', 'refund', 'grant', 'adjustment', 'expiry')",
            name="kind",
        ),
        CheckConstraint("balance_after >= 0", name="balance_after"),
        CheckConstraint("amount <> 0", name="amount"),
        CheckConstraint(
            "(kind IN ('spend', 'expiry') AND amount < 0) OR "
            "(kind IN ('purchase', 'refund', 'grant') AND amount > 0) OR kind = 'adjustment'",
            name="sign",
        ),
        Index("ix_credit_transactions_store_seq", "store_id", "seq"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    seq: Mapped[int] = mapped_column(BigInteger, Identity(), nullable=False, unique=True)
    store_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
    )
    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    balance_after: Mapped[int] = mapped_column(BigInteger, nullable=False)
    idempotency_key: Mapped[str] = mapped_column(Text, nullable=False)
    service_key: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    actor: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = created_at()


class ServiceCreditCost(ControlBase):
    """What one call of a service costs, from a date on (history kept, latest wins)."""

    __tablename__ = "service_credit_costs"
    __table_args__ = (
        UniqueConstraint("service_key", "effective_from"),
        CheckConstraint("cost > 0", name="cost"),
        CheckConstraint("service_key ~ '^[a-z0-9][a-z0-9._-]{0,99}$'", name="service_key"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    service_key: Mapped[str] = mapped_column(Text, nullable=False)
    cost: Mapped[int] = mapped_column(Integer, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    effective_from: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=text("now()")
    )
    created_at: Mapped[datetime] = created_at()


class CreditOutbox(ControlBase):
    """Ledger rows still to be written to the store's tenant log and cache."""

    __tablename__ = "credit_outbox"
    __table_args__ = (
        Index("ix_credit_outbox_pending", "id", postgresql_where=text("delivered_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    transaction_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("credit_transactions.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    )
    store_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
