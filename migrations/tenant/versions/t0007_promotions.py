"""tenant baseline: discounts, discount codes and redemptions

Last of the commerce tables: a redemption names the order it was used on.

Revision ID: t0007_promotions
Revises: t0006_orders_payments
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storefleet.tenancy.ddl import secure_table, tenant_columns

revision: str = "t0007_promotions"
down_revision: str | None = "t0006_orders_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "discounts",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=True),
        sa.Column("conditions", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("is_automatic", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("combinable", sa.Boolean(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("usage_limit_per_customer", sa.Integer(), nullable=True),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("buy_quantity", sa.Integer(), nullable=True),
        sa.Column("get_quantity", sa.Integer(), nullable=True),
        *tenant_columns(),
        sa.CheckConstraint(
            "kind <> 'buy_x_get_y' OR (buy_quantity > 0 AND get_quantity > 0)",
            name=op.f("ck_discounts_bxgy"),
        ),
        sa.CheckConstraint(
            "kind <> 'fixed' OR currency IS NOT NULL", name=op.f("ck_discounts_fixed_currency")
        ),
        sa.CheckConstraint(
            "kind <> 'percentage' OR value <= 10000", name=op.f("ck_discounts_percentage")
        ),
        sa.CheckConstraint(
            "kind IN ('percentage', 'fixed', 'free_shipping', 'buy_x_get_y')",
            name=op.f("ck_discounts_kind"),
        ),
        sa.CheckConstraint(
            "target IN ('order', 'items', 'shipping')", name=op.f("ck_discounts_target")
        ),
        sa.CheckConstraint(
            "ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at",
            name=op.f("ck_discounts_dates"),
        ),
        sa.CheckConstraint("usage_count >= 0", name=op.f("ck_discounts_usage_count")),
        sa.CheckConstraint(
            "usage_limit IS NULL OR usage_count <= usage_limit",
            name=op.f("ck_discounts_usage_within_limit"),
        ),
        sa.CheckConstraint(
            "usage_limit IS NULL OR usage_limit >= 0", name=op.f("ck_discounts_usage_limit")
        ),
        sa.CheckConstraint("value >= 0", name=op.f("ck_discounts_value")),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_discounts")),
    )
    op.create_table(
        "discount_codes",
        sa.Column("discount_id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint("usage_count >= 0", name=op.f("ck_discount_codes_usage_count")),
        sa.CheckConstraint(
            "usage_limit IS NULL OR usage_count <= usage_limit",
            name=op.f("ck_discount_codes_usage_within_limit"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "discount_id"],
            ["discounts.store_id", "discounts.id"],
            name=op.f("fk_discount_codes_store_id_discount_id_discounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_discount_codes")),
    )
    op.create_index(
        "uq_discount_codes_code",
        "discount_codes",
        ["store_id", sa.literal_column("lower(code)")],
        unique=True,
    )
    op.create_table(
        "discount_redemptions",
        sa.Column("discount_id", sa.UUID(), nullable=False),
        sa.Column("code_id", sa.UUID(), nullable=True),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("customer_email", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_discount_redemptions_amount")),
        sa.ForeignKeyConstraint(
            ["store_id", "code_id"],
            ["discount_codes.store_id", "discount_codes.id"],
            name=op.f("fk_discount_redemptions_store_id_code_id_discount_codes"),
            ondelete="SET NULL (code_id)",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "discount_id"],
            ["discounts.store_id", "discounts.id"],
            name=op.f("fk_discount_redemptions_store_id_discount_id_discounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "order_id"],
            ["orders.store_id", "orders.id"],
            name=op.f("fk_discount_redemptions_store_id_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_discount_redemptions")),
    )
    op.create_index(
        "ix_discount_redemptions_customer",
        "discount_redemptions",
        ["store_id", "discount_id", "customer_email"],
        unique=False,
    )
    for table in ("discounts", "discount_codes", "discount_redemptions"):
        secure_table(op, table)


def downgrade() -> None:
    op.drop_table("discount_redemptions")
    op.drop_table("discount_codes")
    op.drop_table("discounts")
