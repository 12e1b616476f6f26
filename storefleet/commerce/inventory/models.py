"""Stock per variant and location, reservations for carts and orders, and adjustments."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.tenancy.base import TenantBase, TenantTable, tenant_fk


class InventoryLocation(TenantTable, TenantBase):
    __tablename__ = "inventory_locations"
    __table_args__ = (
        UniqueConstraint("store_id", "code"),
        Index(
            "uq_inventory_locations_one_default",
            "store_id",
            unique=True,
            postgresql_where=text("is_default"),
        ),
    )

    name: Mapped[str] = mapped_column(Text, nullable=False)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    address: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)


class InventoryLevel(TenantTable, TenantBase):
    """``inventory``: one row per variant and location. Stock moves by conditional UPDATE."""

    __tablename__ = "inventory"
    __table_args__ = (
        tenant_fk("variant_id", "product_variants", ondelete="CASCADE"),
        tenant_fk("location_id", "inventory_locations", ondelete="CASCADE"),
        UniqueConstraint("store_id", "variant_id", "location_id"),
        CheckConstraint("on_hand >= 0", name="on_hand"),
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("incoming >= 0", name="incoming"),
    )

    variant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    location_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    on_hand: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reserved: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    incoming: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class InventoryReservation(TenantTable, TenantBase):
    """A hold for a cart (expires) or an allocation for an order (until fulfilled)."""

    __tablename__ = "inventory_reservations"
    __table_args__ = (
        tenant_fk("variant_id", "product_variants", ondelete="CASCADE"),
        tenant_fk("location_id", "inventory_locations", ondelete="CASCADE"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("kind IN ('cart_hold', 'order_allocation')", name="kind"),
        Index(
            "ix_inventory_reservations_open",
            "store_id",
            "variant_id",
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    variant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    location_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    cart_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InventoryAdjustment(TenantTable, TenantBase):
    """Append-only history of every stock change and why."""

    __tablename__ = "inventory_adjustments"
    __table_args__ = (
        tenant_fk("variant_id", "product_variants", ondelete="CASCADE"),
        tenant_fk("location_id", "inventory_locations", ondelete="CASCADE"),
        CheckConstraint(
            "reason IN ('received', 'correction', 'damaged', 'sold', 'returned', 'restock', "
            "'initial', 'transfer')",
            name="reason",
        ),
        Index("ix_inventory_adjustments_variant", "store_id", "variant_id", "created_at"),
    )

    variant_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    location_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    delta: Mapped[int] = mapped_column(Integer, nullable=False)
    on_hand_after: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    actor: Mapped[str] = mapped_column(Text, nullable=False, default="")
    order_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
