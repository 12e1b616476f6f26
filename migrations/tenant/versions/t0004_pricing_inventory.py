"""tenant baseline: currencies, prices and price rules, inventory

Prices and stock levels are per variant; stock is per inventory location.

Revision ID: t0004_pricing_inventory
Revises: t0003_catalog
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storefleet.tenancy.ddl import secure_table, tenant_columns

revision: str = "t0004_pricing_inventory"
down_revision: str | None = "t0003_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "currency_settings",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("exchange_rate", sa.Numeric(precision=18, scale=8), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint("code ~ '^[A-Z]{3}$'", name=op.f("ck_currency_settings_code")),
        sa.CheckConstraint(
            "NOT is_default OR is_enabled", name=op.f("ck_currency_settings_default_enabled")
        ),
        sa.CheckConstraint("exchange_rate > 0", name=op.f("ck_currency_settings_rate")),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_currency_settings")),
        sa.UniqueConstraint("store_id", "code", name=op.f("uq_currency_settings_store_id_code")),
    )
    op.create_index(
        "uq_currency_settings_one_default",
        "currency_settings",
        ["store_id"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "price_rules",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("percent_off_bp", sa.Integer(), nullable=True),
        sa.Column("customer_group", sa.Text(), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        *tenant_columns(),
        sa.CheckConstraint(
            "country IS NULL OR country ~ '^[A-Z]{2}$'", name=op.f("ck_price_rules_country")
        ),
        sa.CheckConstraint("kind IN ('override', 'sale')", name=op.f("ck_price_rules_kind")),
        sa.CheckConstraint(
            "ends_at IS NULL OR starts_at IS NULL OR ends_at > starts_at",
            name=op.f("ck_price_rules_dates"),
        ),
        sa.CheckConstraint(
            "percent_off_bp IS NULL OR percent_off_bp BETWEEN 0 AND 10000",
            name=op.f("ck_price_rules_pct"),
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_price_rules")),
    )
    op.create_table(
        "prices",
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("compare_at_amount", sa.BigInteger(), nullable=True),
        sa.Column("cost_amount", sa.BigInteger(), nullable=True),
        sa.Column("min_quantity", sa.Integer(), nullable=False),
        sa.Column("price_rule_id", sa.UUID(), nullable=True),
        *tenant_columns(),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_prices_currency")),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_prices_amount")),
        sa.CheckConstraint(
            "compare_at_amount IS NULL OR compare_at_amount >= 0", name=op.f("ck_prices_compare")
        ),
        sa.CheckConstraint("cost_amount IS NULL OR cost_amount >= 0", name=op.f("ck_prices_cost")),
        sa.CheckConstraint("min_quantity >= 1", name=op.f("ck_prices_min_quantity")),
        sa.ForeignKeyConstraint(
            ["store_id", "price_rule_id"],
            ["price_rules.store_id", "price_rules.id"],
            name=op.f("fk_prices_store_id_price_rule_id_price_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "variant_id"],
            ["product_variants.store_id", "product_variants.id"],
            name=op.f("fk_prices_store_id_variant_id_product_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_prices")),
        sa.UniqueConstraint(
            "store_id",
            "variant_id",
            "currency",
            "min_quantity",
            "price_rule_id",
            name=op.f("uq_prices_store_id_variant_id_currency_min_quantity_price_rule_id"),
            postgresql_nulls_not_distinct=True,
        ),
    )
    op.create_table(
        "inventory_locations",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("address", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        *tenant_columns(),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_inventory_locations")),
        sa.UniqueConstraint("store_id", "code", name=op.f("uq_inventory_locations_store_id_code")),
    )
    op.create_index(
        "uq_inventory_locations_one_default",
        "inventory_locations",
        ["store_id"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "inventory",
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("location_id", sa.UUID(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("incoming", sa.Integer(), nullable=False),
        *tenant_columns(),
        sa.CheckConstraint("incoming >= 0", name=op.f("ck_inventory_incoming")),
        sa.CheckConstraint("on_hand >= 0", name=op.f("ck_inventory_on_hand")),
        sa.CheckConstraint("reserved >= 0", name=op.f("ck_inventory_reserved")),
        sa.ForeignKeyConstraint(
            ["store_id", "location_id"],
            ["inventory_locations.store_id", "inventory_locations.id"],
            name=op.f("fk_inventory_store_id_location_id_inventory_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "variant_id"],
            ["product_variants.store_id", "product_variants.id"],
            name=op.f("fk_inventory_store_id_variant_id_product_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_inventory")),
        sa.UniqueConstraint(
            "store_id",
            "variant_id",
            "location_id",
            name=op.f("uq_inventory_store_id_variant_id_location_id"),
        ),
    )
    op.create_table(
        "inventory_adjustments",
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("location_id", sa.UUID(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.Column("on_hand_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("order_id", sa.UUID(), nullable=True),
        *tenant_columns(),
        sa.CheckConstraint(
            "reason IN ('received', 'correction', 'damaged', 'sold', 'returned', 'restock', 'initial', 'transfer')",
            name=op.f("ck_inventory_adjustments_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "location_id"],
            ["inventory_locations.store_id", "inventory_locations.id"],
            name=op.f("fk_inventory_adjustments_store_id_location_id_inventory_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "variant_id"],
            ["product_variants.store_id", "product_variants.id"],
            name=op.f("fk_inventory_adjustments_store_id_variant_id_product_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_inventory_adjustments")),
    )
    op.create_index(
        "ix_inventory_adjustments_variant",
        "inventory_adjustments",
        ["store_id", "variant_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "inventory_reservations",
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("location_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("cart_id", sa.UUID(), nullable=True),
        sa.Column("order_id", sa.UUID(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        *tenant_columns(),
        sa.CheckConstraint(
            "kind IN ('cart_hold', 'order_allocation')", name=op.f("ck_inventory_reservations_kind")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_inventory_reservations_quantity")),
        sa.ForeignKeyConstraint(
            ["store_id", "location_id"],
            ["inventory_locations.store_id", "inventory_locations.id"],
            name=op.f("fk_inventory_reservations_store_id_location_id_inventory_locations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "variant_id"],
            ["product_variants.store_id", "product_variants.id"],
            name=op.f("fk_inventory_reservations_store_id_variant_id_product_variants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_inventory_reservations")),
    )
    op.create_index(
        "ix_inventory_reservations_open",
        "inventory_reservations",
        ["store_id", "variant_id"],
        unique=False,
        postgresql_where=sa.text("released_at IS NULL"),
    )
    for table in (
        "currency_settings",
        "price_rules",
        "prices",
        "inventory_locations",
        "inventory",
        "inventory_adjustments",
        "inventory_reservations",
    ):
        secure_table(op, table)


def downgrade() -> None:
    op.drop_table("inventory_reservations")
    op.drop_table("inventory_adjustments")
    op.drop_table("inventory")
    op.drop_table("inventory_locations")
    op.drop_table("prices")
    op.drop_table("price_rules")
    op.drop_table("currency_settings")
