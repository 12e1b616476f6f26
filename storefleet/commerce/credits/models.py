"""The tenant's read-only copy of its credits: a cached balance and its ledger history.

Written only by the control plane's outbox worker, idempotently on the ledger row id:
``credit_spending_log.id`` IS the control-plane ``credit_transactions.id``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.tenancy.base import TenantBase, TenantTable


class CreditBalanceCache(TenantTable, TenantBase):
    __tablename__ = "credit_balance_cache"
    __table_args__ = (
        UniqueConstraint("store_id", name="uq_credit_balance_cache_one_per_store"),
        CheckConstraint("balance >= 0", name="balance"),
    )

    balance: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    ledger_seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    synced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class CreditSpendingLog(TenantTable, TenantBase):
    __tablename__ = "credit_spending_log"
    __table_args__ = (Index("ix_credit_spending_log_seq", "store_id", "ledger_seq"),)

    ledger_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    balance_after: Mapped[int] = mapped_column(BigInteger, nullable=False)
    service_key: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
