"""Prices per variant and currency, price lists, and the store's currencies."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    Numeric,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.tenancy.base import TenantBase, TenantTable, tenant_fk


class CurrencySetting(TenantTable, TenantBase):
    __tablename__ = "currency_settings"
    __table_args__ = (
        UniqueConstraint("store_id", "code"),
        Index(
            "uq_currency_settings_one_default",
            "store_id",
            unique=True,
            postgresql_where=text("is_default"),
        ),
        CheckConstraint("code ~ '^[A-Z]{3}$'", name="code"),
        CheckConstraint("exchange_rate > 0", name="rate"),
        CheckConstraint("NOT is_default OR is_enabled", name="default_enabled"),
    )

    code: Mapped[str] = mapped_column(Text, nullable=False)
    is_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    exchange_rate: Mapped[Decimal] = mapped_column(
        Numeric(18, 8), nullable=False, default=Decimal(1)
    )


class PriceRule(TenantTable, TenantBase):
    """A price list: override prices (rows in ``prices``) or a percentage off, with conditions."""

    __tablename__ = "price_rules"
    __table_args__ = (
        CheckConstraint("kind IN ('override', 'sale')", name="kind"),
        CheckConstraint("percent_off_bp IS NULL OR percent_off_bp BETWEEN 0 AND 10000", name="pct"),
        CheckConstraint("country IS NULL OR country ~ '^[A-Z]{2}$'", name="country"),
        CheckConstraint(
            "ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at", name="dates"
        ),
    )

    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False, default="override")
    percent_off_bp: Mapped[int | None] = mapped_column(Integer)
    customer_group: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(Text)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Price(TenantTable, TenantBase):
    __tablename__ = "prices"
    __table_args__ = (
        tenant_fk("variant_id", "product_variants", ondelete="CASCADE"),
        tenant_fk("price_rule_id", "price_rules", ondelete="CASCADE"),
        UniqueConstraint(
            "store_id",
            "variant_id",
            "currency",
            "min_quantity",
            "price_rule_id",
            postgresql_nulls_not_distinct=True,
        ),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("compare_at_amount IS NULL OR compare_at_amount >= 0", name="compare"),
        CheckConstraint("cost_amount IS NULL OR cost_amount >= 0", name="cost"),
        CheckConstraint("min_quantity >= 1", name="min_quantity"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
    )

    variant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    compare_at_amount: Mapped[int | None] = mapped_column(BigInteger)
    cost_amount: Mapped[int | None] = mapped_column(BigInteger)
    min_quantity: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    price_rule_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
