"""Orders with line snapshots, an append-only history, fulfilments and returns."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.tenancy.base import TenantBase, TenantTable, tenant_fk

ORDER_STATUSES = ("pending", "confirmed", "processing", "completed", "cancelled")
PAYMENT_STATUSES = (
    "unpaid", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided",
)  # fmt: skip
FULFILLMENT_STATUSES = (
    "unfulfilled", "partially_fulfilled", "fulfilled", "partially_returned", "returned",
)  # fmt: skip


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class StoreCounter(TenantTable, TenantBase):
    """Per-store counters (order numbers): taken with a row lock, so they have no gaps."""

    __tablename__ = "store_counters"
    __table_args__ = (
        UniqueConstraint("store_id", "name"),
        CheckConstraint("value >= 0", name="value"),
    )

    name: Mapped[str] = mapped_column(Text, nullable=False)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class Order(TenantTable, TenantBase):
    __tablename__ = "orders"
    __table_args__ = (
        tenant_fk("customer_id", "customers", nullable=True),
        UniqueConstraint("store_id", "number"),
        UniqueConstraint("store_id", "idempotency_key"),
        CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
        CheckConstraint(_in("payment_status", PAYMENT_STATUSES), name="payment_status"),
        CheckConstraint(_in("fulfillment_status", FULFILLMENT_STATUSES), name="fulfillment_status"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency"),
        CheckConstraint(
            "subtotal >= 0 AND discount_total >= 0 AND shipping_total >= 0 AND tax_total >= 0 "
            "AND total >= 0",
            name="amounts",
        ),
        CheckConstraint(
            "paid_amount >= 0 AND refunded_amount >= 0 AND refunded_amount <= paid_amount",
            name="payments",
        ),
        Index("ix_orders_store_placed", "store_id", "placed_at"),
        Index("ix_orders_customer", "store_id", "customer_id"),
    )

    number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, default="pending")
    payment_status: Mapped[str] = mapped_column(Text, nullable=False, default="unpaid")
    fulfillment_status: Mapped[str] = mapped_column(Text, nullable=False, default="unfulfilled")
    currency: Mapped[str] = mapped_column(Text, nullable=False)
    subtotal: Mapped[int] = mapped_column(BigInteger, nullable=False)
    discount_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    shipping_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    tax_total: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total: Mapped[int] = mapped_column(BigInteger, nullable=False)
    paid_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    prices_include_tax: Mapped[bool] = mapped_column(nullable=False, default=False)
    customer_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    email: Mapped[str] = mapped_column(Text, nullable=False)
    customer_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    billing_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    shipping_method: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    discount_codes: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    notes: Mapped[str] = mapped_column(Text, nullable=False, default="")
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    source: Mapped[str] = mapped_column(Text, nullable=False, default="storefront")
    ip_address: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(Text)
    cart_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    idempotency_key: Mapped[str | None] = mapped_column(Text)
    placed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    fulfilled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(Text)


class OrderItem(TenantTable, TenantBase):
    """A line with a full snapshot: later catalog edits never change a placed order."""

    __tablename__ = "order_items"
    __table_args__ = (
        tenant_fk("order_id", "orders", ondelete="CASCADE"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint(
            "quantity_fulfilled >= 0 AND quantity_fulfilled <= quantity", name="fulfilled"
        ),
        CheckConstraint(
            "quantity_returned >= 0 AND quantity_returned <= quantity_fulfilled", name="returned"
        ),
        CheckConstraint(
            "unit_amount >= 0 AND discount_amount >= 0 AND tax_amount >= 0 AND total_amount >= 0",
            name="amounts",
        ),
        Index("ix_order_items_order", "store_id", "order_id"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    product_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    variant_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    product_name: Mapped[str] = mapped_column(Text, nullable=False)
    variant_title: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sku: Mapped[str | None] = mapped_column(Text)
    options: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, default=dict)
    image_url: Mapped[str | None] = mapped_column(Text)
    requires_shipping: Mapped[bool] = mapped_column(nullable=False, default=True)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    discount_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    tax_rate_bp: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tax_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    total_amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    quantity_fulfilled: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    quantity_returned: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class OrderEvent(TenantTable, TenantBase):
    """``order_history``: append-only (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "order_history"
    __table_args__ = (
        tenant_fk("order_id", "orders", ondelete="CASCADE"),
        Index("ix_order_history_order", "store_id", "order_id", "created_at"),
        {"info": {"append_only": True}},
    )

    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    event_type: Mapped[str] = mapped_column(Text, nullable=False)
    from_status: Mapped[str | None] = mapped_column(Text)
    to_status: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    actor: Mapped[str] = mapped_column(Text, nullable=False, default="")


class Fulfillment(TenantTable, TenantBase):
    __tablename__ = "fulfillments"
    __table_args__ = (
        tenant_fk("order_id", "orders", ondelete="CASCADE"),
        CheckConstraint(
            "status IN ('pending', 'shipped', 'delivered', 'cancelled')", name="status"
        ),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, default="shipped")
    carrier: Mapped[str | None] = mapped_column(Text)
    tracking_number: Mapped[str | None] = mapped_column(Text)
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FulfillmentItem(TenantTable, TenantBase):
    __tablename__ = "fulfillment_items"
    __table_args__ = (
        tenant_fk("fulfillment_id", "fulfillments", ondelete="CASCADE"),
        tenant_fk("order_item_id", "order_items", ondelete="CASCADE"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    fulfillment_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    order_item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)


class OrderReturn(TenantTable, TenantBase):
    __tablename__ = "returns"
    __table_args__ = (
        tenant_fk("order_id", "orders", ondelete="CASCADE"),
        CheckConstraint(
            "status IN ('requested', 'received', 'refunded', 'rejected')", name="status"
        ),
        CheckConstraint("refund_amount >= 0", name="refund"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, default="requested")
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    refund_amount: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    restock: Mapped[bool] = mapped_column(nullable=False, default=True)


class ReturnItem(TenantTable, TenantBase):
    __tablename__ = "return_items"
    __table_args__ = (
        tenant_fk("return_id", "returns", ondelete="CASCADE"),
        tenant_fk("order_item_id", "order_items", ondelete="CASCADE"),
        CheckConstraint("quantity > 0", name="quantity"),
    )

    return_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    order_item_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
