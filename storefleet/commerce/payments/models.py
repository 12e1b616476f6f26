"""Payment methods (secrets encrypted with the keyring) and append-only transactions."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.tenancy.base import TenantBase, TenantTable, tenant_fk

PROVIDERS = ("manual", "bank_transfer", "cash_on_delivery", "stripe")


class PaymentMethod(TenantTable, TenantBase):
    __tablename__ = "payment_methods"
    __table_args__ = (
        UniqueConstraint("store_id", "code"),
        CheckConstraint(
            "provider IN ('manual', 'bank_transfer', 'cash_on_delivery', 'stripe')",
            name="provider",
        ),
    )

    code: Mapped[str] = mapped_column(Text, nullable=False)
    provider: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    instructions: Mapped[str] = mapped_column(Text, nullable=False, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    secret_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)


class PaymentTransaction(TenantTable, TenantBase):
    """authorize / capture / refund / void, never edited (a trigger refuses it)."""

    __tablename__ = "payment_transactions"
    __table_args__ = (
        tenant_fk("order_id", "orders", ondelete="CASCADE"),
        tenant_fk("method_id", "payment_methods", nullable=True),
        UniqueConstraint("store_id", "idempotency_key"),
        CheckConstraint("kind IN ('authorize', 'capture', 'refund', 'void')", name="kind"),
        CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        {"info": {"append_only": True}},
    )

    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    method_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, default="succeeded")
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    provider_reference: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
