"""Customers (accounts and guests) and their addresses."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import SoftDeleted
from storefleet.tenancy.base import TenantBase, TenantTable, tenant_fk


class Customer(SoftDeleted, TenantTable, TenantBase):
    __tablename__ = "customers"
    __table_args__ = (
        tenant_fk("user_id", "users", nullable=True),
        # One staff-entered customer per email. Accounts are unique through ``users``; an
        # unverified account may share its email with a staff-entered one until it is verified.
        Index(
            "uq_customers_unlinked_email",
            "store_id",
            text("lower(email)"),
            unique=True,
            postgresql_where=text("NOT is_guest AND user_id IS NULL AND deleted_at IS NULL"),
        ),
        Index("ix_customers_email", "store_id", text("lower(email)")),
    )

    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    email: Mapped[str] = mapped_column(Text, nullable=False)
    is_guest: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    first_name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    last_name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    phone: Mapped[str | None] = mapped_column(Text)
    accepts_marketing: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    customer_group: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CustomerAddress(TenantTable, TenantBase):
    __tablename__ = "customer_addresses"
    __table_args__ = (
        tenant_fk("customer_id", "customers", ondelete="CASCADE"),
        Index(
            "uq_customer_addresses_default_shipping",
            "store_id",
            "customer_id",
            unique=True,
            postgresql_where=text("is_default_shipping"),
        ),
        Index(
            "uq_customer_addresses_default_billing",
            "store_id",
            "customer_id",
            unique=True,
            postgresql_where=text("is_default_billing"),
        ),
        CheckConstraint("country ~ '^[A-Z]{2}$'", name="country"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    first_name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    last_name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    company: Mapped[str | None] = mapped_column(Text)
    line1: Mapped[str] = mapped_column(Text, nullable=False)
    line2: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str] = mapped_column(Text, nullable=False)
    region: Mapped[str | None] = mapped_column(Text)
    postal_code: Mapped[str] = mapped_column(Text, nullable=False, default="")
    country: Mapped[str] = mapped_column(Text, nullable=False)
    phone: Mapped[str | None] = mapped_column(Text)
    is_default_shipping: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    is_default_billing: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
