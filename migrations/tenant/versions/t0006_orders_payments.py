"""tenant baseline: orders, fulfilment, returns, payment methods and transactions

``order_history`` and ``payment_transactions`` are append-only for the request role
(SELECT and INSERT only).

Revision ID: t0006_orders_payments
Revises: t0005_customers_carts
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storefleet.tenancy.ddl import secure_table, tenant_columns

revision: str = "t0006_orders_payments"
down_revision: str | None = "t0005_customers_carts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "store_counters",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint("value >= 0", name=op.f("ck_store_counters_value")),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_store_counters")),
        sa.UniqueConstraint("store_id", "name", name=op.f("uq_store_counters_store_id_name")),
    )
    op.create_table(
        "orders",
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("payment_status", sa.Text(), nullable=False),
        sa.Column("fulfillment_status", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("discount_total", sa.BigInteger(), nullable=False),
        sa.Column("shipping_total", sa.BigInteger(), nullable=False),
        sa.Column("tax_total", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("paid_amount", sa.BigInteger(), nullable=False),
        sa.Column("refunded_amount", sa.BigInteger(), nullable=False),
        sa.Column("prices_include_tax", sa.Boolean(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("customer_snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("shipping_address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("billing_address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("shipping_method", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("discount_codes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("ip_address", sa.Text(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("cart_id", sa.UUID(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        *tenant_columns(),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_orders_currency")),
        sa.CheckConstraint(
            "fulfillment_status IN ('unfulfilled', 'partially_fulfilled', 'fulfilled', 'partially_returned', 'returned')",
            name=op.f("ck_orders_fulfillment_status"),
        ),
        sa.CheckConstraint(
            "payment_status IN ('unpaid', 'authorized', 'partially_paid', 'paid', 'partially_refunded', 'refunded', 'voided')",
            name=op.f("ck_orders_payment_status"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'processing', 'completed', 'cancelled')",
            name=op.f("ck_orders_status"),
        ),
        sa.CheckConstraint(
            "paid_amount >= 0 AND refunded_amount >= 0 AND refunded_amount <= paid_amount",
            name=op.f("ck_orders_payments"),
        ),
        sa.CheckConstraint(
            "subtotal >= 0 AND discount_total >= 0 AND shipping_total >= 0 AND tax_total >= 0 AND total >= 0",
            name=op.f("ck_orders_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "customer_id"],
            ["customers.store_id", "customers.id"],
            name=op.f("fk_orders_store_id_customer_id_customers"),
            ondelete="SET NULL (customer_id)",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "store_id", "idempotency_key", name=op.f("uq_orders_store_id_idempotency_key")
        ),
        sa.UniqueConstraint("store_id", "number", name=op.f("uq_orders_store_id_number")),
    )
    op.create_index("ix_orders_customer", "orders", ["store_id", "customer_id"], unique=False)
    op.create_index("ix_orders_store_placed", "orders", ["store_id", "placed_at"], unique=False)
    op.create_table(
        "order_items",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=True),
        sa.Column("variant_id", sa.UUID(), nullable=True),
        sa.Column("product_name", sa.Text(), nullable=False),
        sa.Column("variant_title", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=True),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("image_url", sa.Text(), nullable=True),
        sa.Column("requires_shipping", sa.Boolean(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        sa.Column("discount_amount", sa.BigInteger(), nullable=False),
        sa.Column("tax_rate_bp", sa.Integer(), nullable=False),
        sa.Column("tax_amount", sa.BigInteger(), nullable=False),
        sa.Column("total_amount", sa.BigInteger(), nullable=False),
        sa.Column("quantity_fulfilled", sa.Integer(), nullable=False),
        sa.Column("quantity_returned", sa.Integer(), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_items_quantity")),
        sa.CheckConstraint(
            "quantity_fulfilled >= 0 AND quantity_fulfilled <= quantity",
            name=op.f("ck_order_items_fulfilled"),
        ),
        sa.CheckConstraint(
            "quantity_returned >= 0 AND quantity_returned <= quantity_fulfilled",
            name=op.f("ck_order_items_returned"),
        ),
        sa.CheckConstraint(
            "unit_amount >= 0 AND discount_amount >= 0 AND tax_amount >= 0 AND total_amount >= 0",
            name=op.f("ck_order_items_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "order_id"],
            ["orders.store_id", "orders.id"],
            name=op.f("fk_order_items_store_id_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_order_items")),
    )
    op.create_index("ix_order_items_order", "order_items", ["store_id", "order_id"], unique=False)
    op.create_table(
        "order_history",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        *tenant_columns(),
        sa.ForeignKeyConstraint(
            ["store_id", "order_id"],
            ["orders.store_id", "orders.id"],
            name=op.f("fk_order_history_store_id_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_order_history")),
        info={"append_only": True},
    )
    op.create_index(
        "ix_order_history_order",
        "order_history",
        ["store_id", "order_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "fulfillments",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("carrier", sa.Text(), nullable=True),
        sa.Column("tracking_number", sa.Text(), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        *tenant_columns(),
        sa.CheckConstraint(
            "status IN ('pending', 'shipped', 'delivered', 'cancelled')",
            name=op.f("ck_fulfillments_status"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "order_id"],
            ["orders.store_id", "orders.id"],
            name=op.f("fk_fulfillments_store_id_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_fulfillments")),
    )
    op.create_table(
        "fulfillment_items",
        sa.Column("fulfillment_id", sa.UUID(), nullable=False),
        sa.Column("order_item_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_fulfillment_items_quantity")),
        sa.ForeignKeyConstraint(
            ["store_id", "fulfillment_id"],
            ["fulfillments.store_id", "fulfillments.id"],
            name=op.f("fk_fulfillment_items_store_id_fulfillment_id_fulfillments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "order_item_id"],
            ["order_items.store_id", "order_items.id"],
            name=op.f("fk_fulfillment_items_store_id_order_item_id_order_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_fulfillment_items")),
    )
    op.create_table(
        "returns",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("refund_amount", sa.BigInteger(), nullable=False),
        sa.Column("restock", sa.Boolean(), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint(
            "status IN ('requested', 'received', 'refunded', 'rejected')",
            name=op.f("ck_returns_status"),
        ),
        sa.CheckConstraint("refund_amount >= 0", name=op.f("ck_returns_refund")),
        sa.ForeignKeyConstraint(
            ["store_id", "order_id"],
            ["orders.store_id", "orders.id"],
            name=op.f("fk_returns_store_id_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_returns")),
    )
    op.create_table(
        "return_items",
        sa.Column("return_id", sa.UUID(), nullable=False),
        sa.Column("order_item_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_return_items_quantity")),
        sa.ForeignKeyConstraint(
            ["store_id", "order_item_id"],
            ["order_items.store_id", "order_items.id"],
            name=op.f("fk_return_items_store_id_order_item_id_order_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "return_id"],
            ["returns.store_id", "returns.id"],
            name=op.f("fk_return_items_store_id_return_id_returns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_return_items")),
    )
    op.create_table(
        "payment_methods",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=True),
        *tenant_columns(),
        sa.CheckConstraint(
            "provider IN ('manual', 'bank_transfer', 'cash_on_delivery', 'stripe')",
            name=op.f("ck_payment_methods_provider"),
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint("store_id", "code", name=op.f("uq_payment_methods_store_id_code")),
    )
    op.create_table(
        "payment_transactions",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("method_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("provider_reference", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_payment_transactions_currency")
        ),
        sa.CheckConstraint(
            "kind IN ('authorize', 'capture', 'refund', 'void')",
            name=op.f("ck_payment_transactions_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed')",
            name=op.f("ck_payment_transactions_status"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_payment_transactions_amount")),
        sa.ForeignKeyConstraint(
            ["store_id", "method_id"],
            ["payment_methods.store_id", "payment_methods.id"],
            name=op.f("fk_payment_transactions_store_id_method_id_payment_methods"),
            ondelete="SET NULL (method_id)",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "order_id"],
            ["orders.store_id", "orders.id"],
            name=op.f("fk_payment_transactions_store_id_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_payment_transactions")),
        sa.UniqueConstraint(
            "store_id",
            "idempotency_key",
            name=op.f("uq_payment_transactions_store_id_idempotency_key"),
        ),
        info={"append_only": True},
    )
    for table in (
        "store_counters",
        "orders",
        "order_items",
        "fulfillments",
        "fulfillment_items",
        "returns",
        "return_items",
        "payment_methods",
    ):
        secure_table(op, table)
    secure_table(op, "order_history", append_only=True)
    secure_table(op, "payment_transactions", append_only=True)


def downgrade() -> None:
    op.drop_table("payment_transactions")
    op.drop_table("payment_methods")
    op.drop_table("return_items")
    op.drop_table("returns")
    op.drop_table("fulfillment_items")
    op.drop_table("fulfillments")
    op.drop_table("order_history")
    op.drop_table("order_items")
    op.drop_table("orders")
    op.drop_table("store_counters")
