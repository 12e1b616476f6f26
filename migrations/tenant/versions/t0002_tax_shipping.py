"""tenant baseline: tax classes and rules, shipping zones, methods and rates

Before the catalog and carts: a product names its tax class, a cart its shipping method.

Revision ID: t0002_tax_shipping
Revises: t0001_store_users
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storefleet.tenancy.ddl import secure_table, tenant_columns

revision: str = "t0002_tax_shipping"
down_revision: str | None = "t0001_store_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "taxes",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        *tenant_columns(),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_taxes")),
        sa.UniqueConstraint("store_id", "code", name=op.f("uq_taxes_store_id_code")),
    )
    op.create_index(
        "uq_taxes_one_default",
        "taxes",
        ["store_id"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "tax_rules",
        sa.Column("tax_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("postal_pattern", sa.Text(), nullable=True),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("is_compound", sa.Boolean(), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint("country ~ '^[A-Z]{2}$'", name=op.f("ck_tax_rules_country")),
        sa.CheckConstraint("rate_bp >= 0 AND rate_bp <= 100000", name=op.f("ck_tax_rules_rate")),
        sa.ForeignKeyConstraint(
            ["store_id", "tax_id"],
            ["taxes.store_id", "taxes.id"],
            name=op.f("fk_tax_rules_store_id_tax_id_taxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_tax_rules")),
    )
    op.create_index(
        "ix_tax_rules_lookup", "tax_rules", ["store_id", "tax_id", "country"], unique=False
    )
    op.create_table(
        "shipping_zones",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("countries", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("regions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("postal_patterns", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *tenant_columns(),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_shipping_zones")),
    )
    op.create_table(
        "shipping_methods",
        sa.Column("zone_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *tenant_columns(),
        sa.ForeignKeyConstraint(
            ["store_id", "zone_id"],
            ["shipping_zones.store_id", "shipping_zones.id"],
            name=op.f("fk_shipping_methods_store_id_zone_id_shipping_zones"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_shipping_methods")),
        sa.UniqueConstraint(
            "store_id", "zone_id", "code", name=op.f("uq_shipping_methods_store_id_zone_id_code")
        ),
    )
    op.create_table(
        "shipping_rates",
        sa.Column("method_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("min_weight_grams", sa.Integer(), nullable=True),
        sa.Column("max_weight_grams", sa.Integer(), nullable=True),
        sa.Column("min_subtotal", sa.BigInteger(), nullable=True),
        sa.Column("max_subtotal", sa.BigInteger(), nullable=True),
        sa.Column("free_over_amount", sa.BigInteger(), nullable=True),
        *tenant_columns(),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_shipping_rates_currency")),
        sa.CheckConstraint(
            "kind <> 'free_over' OR free_over_amount IS NOT NULL",
            name=op.f("ck_shipping_rates_free_over_threshold"),
        ),
        sa.CheckConstraint(
            "kind IN ('flat', 'weight', 'order_value', 'free_over')",
            name=op.f("ck_shipping_rates_kind"),
        ),
        sa.CheckConstraint(
            "(min_subtotal IS NULL OR min_subtotal >= 0) AND (max_subtotal IS NULL OR max_subtotal >= coalesce(min_subtotal, 0))",
            name=op.f("ck_shipping_rates_subtotals"),
        ),
        sa.CheckConstraint(
            "(min_weight_grams IS NULL OR min_weight_grams >= 0) AND (max_weight_grams IS NULL OR max_weight_grams >= coalesce(min_weight_grams, 0))",
            name=op.f("ck_shipping_rates_weights"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_shipping_rates_amount")),
        sa.ForeignKeyConstraint(
            ["store_id", "method_id"],
            ["shipping_methods.store_id", "shipping_methods.id"],
            name=op.f("fk_shipping_rates_store_id_method_id_shipping_methods"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_shipping_rates")),
    )
    for table in ("taxes", "tax_rules", "shipping_zones", "shipping_methods", "shipping_rates"):
        secure_table(op, table)


def downgrade() -> None:
    op.drop_table("shipping_rates")
    op.drop_table("shipping_methods")
    op.drop_table("shipping_zones")
    op.drop_table("tax_rules")
    op.drop_table("taxes")
