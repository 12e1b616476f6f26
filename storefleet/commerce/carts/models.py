"""Carts and their lines. Totals are cached for display; checkout recomputes them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Integer, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.tenancy.base import TenantBase, TenantTable, tenant_fk

CART_STATUSES = ("active", "converted", "abandoned", "expired")


class Cart(TenantTable, TenantBase):
    __tablename__ = "carts"
    __table_args__ = (
        tenant_fk("customer_id", "customers", nullable=True),
        tenant_fk("shipping_method_id", "shipping_methods", nullable=True),
        UniqueConstraint("store_id", "token"),
        CheckConstraint("status IN ('active', 'converted', 'abandoned', 'expired')", name="status"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
    )

    token: Mapped[str] = mapped_column(Text, nullable=False)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    email: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    shipping_method_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    applied_codes: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    subtotal: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    discount_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    shipping_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    tax_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    status: Mapped[str] = mapped_column(Text, nullable=False, default="active")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class CartItem(TenantTable, TenantBase):
    __tablename__ = "cart_items"
    __table_args__ = (
        tenant_fk("cart_id", "carts", ondelete="CASCADE"),
        tenant_fk("variant_id", "product_variants", ondelete="CASCADE"),
        UniqueConstraint("store_id", "cart_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("unit_amount >= 0", name="unit_amount"),
    )

    cart_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    variant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
