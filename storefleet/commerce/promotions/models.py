"""Discounts, their codes, and every redemption."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, DateTime, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.tenancy.base import TenantBase, TenantTable, tenant_fk


class Discount(TenantTable, TenantBase):
    __tablename__ = "discounts"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('percentage', 'fixed', 'free_shipping', 'buy_x_get_y')", name="kind"
        ),
        CheckConstraint("target IN ('order', 'items', 'shipping')", name="target"),
        CheckConstraint("value >= 0", name="value"),
        CheckConstraint("kind <> 'percentage' OR value <= 10000", name="percentage"),
        CheckConstraint("kind <> 'fixed' OR currency IS NOT NULL", name="fixed_currency"),
        CheckConstraint("usage_limit IS NULL OR usage_limit >= 0", name="usage_limit"),
        CheckConstraint("usage_count >= 0", name="usage_count"),
        CheckConstraint(
            "usage_limit IS NULL OR usage_count <= usage_limit", name="usage_within_limit"
        ),
        CheckConstraint(
            "kind <> 'buy_x_get_y' OR (buy_quantity > 0 AND get_quantity > 0)", name="bxgy"
        ),
        CheckConstraint(
            "ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at", name="dates"
        ),
    )

    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    target: Mapped[str] = mapped_column(Text, nullable=False, default="order")
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    currency: Mapped[str | None] = mapped_column(Text)
    conditions: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    is_automatic: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    combinable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    usage_limit_per_customer: Mapped[int | None] = mapped_column(Integer)
    usage_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    buy_quantity: Mapped[int | None] = mapped_column(Integer)
    get_quantity: Mapped[int | None] = mapped_column(Integer)


class DiscountCode(TenantTable, TenantBase):
    __tablename__ = "discount_codes"
    __table_args__ = (
        tenant_fk("discount_id", "discounts", ondelete="CASCADE"),
        Index("uq_discount_codes_code", "store_id", text("lower(code)"), unique=True),
        CheckConstraint("usage_count >= 0", name="usage_count"),
        CheckConstraint(
            "usage_limit IS NULL OR usage_count <= usage_limit", name="usage_within_limit"
        ),
    )

    discount_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    usage_limit: Mapped[int | None] = mapped_column(Integer)
    usage_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class DiscountRedemption(TenantTable, TenantBase):
    __tablename__ = "discount_redemptions"
    __table_args__ = (
        tenant_fk("discount_id", "discounts", ondelete="CASCADE"),
        tenant_fk("code_id", "discount_codes", nullable=True),
        tenant_fk("order_id", "orders", ondelete="CASCADE"),
        Index("ix_discount_redemptions_customer", "store_id", "discount_id", "customer_email"),
        CheckConstraint("amount >= 0", name="amount"),
    )

    discount_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    code_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    customer_email: Mapped[str] = mapped_column(Text, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
