"""The tenant's own full store record and its 1:1 configuration (seeds 000 and 004)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKeyConstraint,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import SoftDeleted
from storefleet.tenancy.base import TenantBase, TenantTable


class StoreProfile(SoftDeleted, TenantTable, TenantBase):
    """``stores`` in the tenant: everything about the store the control plane does not need."""

    __tablename__ = "stores"
    __table_args__ = (
        UniqueConstraint("store_id", name="uq_stores_one_per_store"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint("country IS NULL OR country ~ '^[A-Z]{2}$'", name="country"),
        CheckConstraint("theme_color IS NULL OR theme_color ~ '^#[0-9a-fA-F]{6}$'", name="theme"),
        CheckConstraint("id = store_id", name="id_is_store"),
    )

    owner_account_id: Mapped[Any] = mapped_column(UUID(as_uuid=True), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    slug: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    logo_url: Mapped[str | None] = mapped_column(Text)
    banner_url: Mapped[str | None] = mapped_column(Text)
    theme_color: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(Text, nullable=False, default="USD")
    timezone: Mapped[str] = mapped_column(Text, nullable=False, default="UTC")
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    contact_email: Mapped[str | None] = mapped_column(Text)
    contact_phone: Mapped[str | None] = mapped_column(Text)
    address_line1: Mapped[str | None] = mapped_column(Text)
    address_line2: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    postal_code: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(Text)
    website_url: Mapped[str | None] = mapped_column(Text)
    stripe_account_id: Mapped[str | None] = mapped_column(Text)
    deployment_status: Mapped[str] = mapped_column(Text, nullable=False, default="draft")
    published: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StoreConfig(TenantTable, TenantBase):
    """``store_configs``: exactly one per store (seed 004's 1:1 rule, enforced by the database)."""

    __tablename__ = "store_configs"
    __table_args__ = (
        UniqueConstraint("store_id", name="uq_store_configs_one_per_store"),
        ForeignKeyConstraint(
            ["store_id", "profile_id"],
            ["stores.store_id", "stores.id"],
            ondelete="CASCADE",
            name="fk_store_configs_profile",
        ),
    )

    profile_id: Mapped[Any] = mapped_column(UUID(as_uuid=True), nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    theme: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    layout: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    features: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
