"""tenant baseline: customers, their addresses, carts and cart items

A customer may be linked to a store user; a cart to a customer and a shipping method.

Revision ID: t0005_customers_carts
Revises: t0004_pricing_inventory
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storefleet.tenancy.ddl import secure_table, tenant_columns

revision: str = "t0005_customers_carts"
down_revision: str | None = "t0004_pricing_inventory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("is_guest", sa.Boolean(), nullable=False),
        sa.Column("first_name", sa.Text(), nullable=False),
        sa.Column("last_name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("accepts_marketing", sa.Boolean(), nullable=False),
        sa.Column("customer_group", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        *tenant_columns(),
        sa.ForeignKeyConstraint(
            ["store_id", "user_id"],
            ["users.store_id", "users.id"],
            name=op.f("fk_customers_store_id_user_id_users"),
            ondelete="SET NULL (user_id)",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_customers")),
    )
    op.create_index(
        "ix_customers_email",
        "customers",
        ["store_id", sa.literal_column("lower(email)")],
        unique=False,
    )
    op.create_index(
        "uq_customers_unlinked_email",
        "customers",
        ["store_id", sa.literal_column("lower(email)")],
        unique=True,
        postgresql_where=sa.text("NOT is_guest AND user_id IS NULL AND deleted_at IS NULL"),
    )
    op.create_table(
        "customer_addresses",
        sa.Column("customer_id", sa.UUID(), nullable=False),
        sa.Column("first_name", sa.Text(), nullable=False),
        sa.Column("last_name", sa.Text(), nullable=False),
        sa.Column("company", sa.Text(), nullable=True),
        sa.Column("line1", sa.Text(), nullable=False),
        sa.Column("line2", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("postal_code", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("is_default_shipping", sa.Boolean(), nullable=False),
        sa.Column("is_default_billing", sa.Boolean(), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name=op.f("ck_customer_addresses_country")),
        sa.ForeignKeyConstraint(
            ["store_id", "customer_id"],
            ["customers.store_id", "customers.id"],
            name=op.f("fk_customer_addresses_store_id_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_customer_addresses")),
    )
    op.create_index(
        "uq_customer_addresses_default_billing",
        "customer_addresses",
        ["store_id", "customer_id"],
        unique=True,
        postgresql_where=sa.text("is_default_billing"),
    )
    op.create_index(
        "uq_customer_addresses_default_shipping",
        "customer_addresses",
        ["store_id", "customer_id"],
        unique=True,
        postgresql_where=sa.text("is_default_shipping"),
    )
    op.create_table(
        "carts",
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("shipping_address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("billing_address", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("shipping_method_id", sa.UUID(), nullable=True),
        sa.Column("applied_codes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("discount_total", sa.BigInteger(), nullable=False),
        sa.Column("shipping_total", sa.BigInteger(), nullable=False),
        sa.Column("tax_total", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=True),
        *tenant_columns(),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_carts_currency")),
        sa.CheckConstraint(
            "status IN ('active', 'converted', 'abandoned', 'expired')",
            name=op.f("ck_carts_status"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "customer_id"],
            ["customers.store_id", "customers.id"],
            name=op.f("fk_carts_store_id_customer_id_customers"),
            ondelete="SET NULL (customer_id)",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "shipping_method_id"],
            ["shipping_methods.store_id", "shipping_methods.id"],
            name=op.f("fk_carts_store_id_shipping_method_id_shipping_methods"),
            ondelete="SET NULL (shipping_method_id)",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_carts")),
        sa.UniqueConstraint("store_id", "token", name=op.f("uq_carts_store_id_token")),
    )
    op.create_table(
        "cart_items",
        sa.Column("cart_id", sa.UUID(), nullable=False),
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cart_items_quantity")),
        sa.CheckConstraint("unit_amount >= 0", name=op.f("ck_cart_items_unit_amount")),
        sa.ForeignKeyConstraint(
            ["store_id", "cart_id"],
            ["carts.store_id", "carts.id"],
            name=op.f("fk_cart_items_store_id_cart_id_carts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "variant_id"],
            ["product_variants.store_id", "product_variants.id"],
            name=op.f("fk_cart_items_store_id_variant_id_product_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_cart_items")),
        sa.UniqueConstraint(
            "store_id",
            "cart_id",
            "variant_id",
            name=op.f("uq_cart_items_store_id_cart_id_variant_id"),
        ),
    )
    for table in ("customers", "customer_addresses", "carts", "cart_items"):
        secure_table(op, table)


def downgrade() -> None:
    op.drop_table("cart_items")
    op.drop_table("carts")
    op.drop_table("customer_addresses")
    op.drop_table("customers")
