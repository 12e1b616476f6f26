"""Shipping zones, methods and their rates."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Integer, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.tenancy.base import TenantBase, TenantTable, tenant_fk


class ShippingZone(TenantTable, TenantBase):
    __tablename__ = "shipping_zones"

    name: Mapped[str] = mapped_column(Text, nullable=False)
    countries: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    regions: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    postal_patterns: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ShippingMethod(TenantTable, TenantBase):
    __tablename__ = "shipping_methods"
    __table_args__ = (
        tenant_fk("zone_id", "shipping_zones", ondelete="CASCADE"),
        UniqueConstraint("store_id", "zone_id", "code"),
    )

    zone_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ShippingRate(TenantTable, TenantBase):
    """flat, by weight band, by order value band, or free over a threshold."""

    __tablename__ = "shipping_rates"
    __table_args__ = (
        tenant_fk("method_id", "shipping_methods", ondelete="CASCADE"),
        CheckConstraint("kind IN ('flat', 'weight', 'order_value', 'free_over')", name="kind"),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint(
            "(min_weight_grams IS NULL OR min_weight_grams >= 0) AND "
            "(max_weight_grams IS NULL OR max_weight_grams >= coalesce(min_weight_grams, 0))",
            name="weights",
        ),
        CheckConstraint(
            "(min_subtotal IS NULL OR min_subtotal >= 0) AND "
            "(max_subtotal IS NULL OR max_subtotal >= coalesce(min_subtotal, 0))",
            name="subtotals",
        ),
        CheckConstraint(
            "kind <> 'free_over' OR free_over_amount IS NOT NULL", name="free_over_threshold"
        ),
    )

    method_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False, default="flat")
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    min_weight_grams: Mapped[int | None] = mapped_column(Integer)
    max_weight_grams: Mapped[int | None] = mapped_column(Integer)
    min_subtotal: Mapped[int | None] = mapped_column(BigInteger)
    max_subtotal: Mapped[int | None] = mapped_column(BigInteger)
    free_over_amount: Mapped[int | None] = mapped_column(BigInteger)
