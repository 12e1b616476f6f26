"""Tax classes and the rules that give a rate by destination."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.tenancy.base import TenantBase, TenantTable, tenant_fk


class TaxClass(TenantTable, TenantBase):
    """``taxes``: a tax class (standard, reduced, zero...), one of them the default."""

    __tablename__ = "taxes"
    __table_args__ = (
        UniqueConstraint("store_id", "code"),
        Index("uq_taxes_one_default", "store_id", unique=True, postgresql_where=text("is_default")),
    )

    name: Mapped[str] = mapped_column(Text, nullable=False)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class TaxRule(TenantTable, TenantBase):
    """A rate for a class in a country, optionally narrowed by region and postal pattern."""

    __tablename__ = "tax_rules"
    __table_args__ = (
        tenant_fk("tax_id", "taxes", ondelete="CASCADE"),
        CheckConstraint("country ~ '^[A-Z]{2}$'", name="country"),
        CheckConstraint("rate_bp >= 0 AND rate_bp <= 100000", name="rate"),
        Index("ix_tax_rules_lookup", "store_id", "tax_id", "country"),
    )

    tax_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    country: Mapped[str] = mapped_column(Text, nullable=False)
    region: Mapped[str | None] = mapped_column(Text)
    postal_pattern: Mapped[str | None] = mapped_column(Text)
    rate_bp: Mapped[int] = mapped_column(Integer, nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    is_compound: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
