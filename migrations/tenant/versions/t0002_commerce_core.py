"""commerce core: catalog, pricing, inventory, customers, carts, orders, promotions, tax,
shipping, payments (pg_trgm is installed by the migrator before this runs)

Revision ID: t0002
Revises: t0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storefleet.tenancy.ddl import secure_table

revision: str = "t0002"
down_revision: str | None = "t0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "categories",
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "parent_id IS NULL OR parent_id <> id", name=op.f("ck_categories_not_own_parent")
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "parent_id"],
            ["categories.store_id", "categories.id"],
            name=op.f("fk_categories_store_id_parent_id_categories"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_categories")),
        sa.UniqueConstraint("store_id", "slug", name=op.f("uq_categories_store_id_slug")),
    )
    op.create_index("ix_categories_path", "categories", ["store_id", "path"], unique=False)
    op.create_table(
        "currency_settings",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("is_enabled", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("exchange_rate", sa.Numeric(precision=18, scale=8), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "inventory_locations",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("address", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "payment_methods",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secret_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "provider IN ('manual', 'bank_transfer', 'cash_on_delivery', 'stripe')",
            name=op.f("ck_payment_methods_provider"),
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_payment_methods")),
        sa.UniqueConstraint("store_id", "code", name=op.f("uq_payment_methods_store_id_code")),
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
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "shipping_zones",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("countries", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("regions", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("postal_patterns", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_shipping_zones")),
    )
    op.create_table(
        "store_counters",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("value >= 0", name=op.f("ck_store_counters_value")),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_store_counters")),
        sa.UniqueConstraint("store_id", "name", name=op.f("uq_store_counters_store_id_name")),
    )
    op.create_table(
        "taxes",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "uq_customers_account_email",
        "customers",
        ["store_id", sa.literal_column("lower(email)")],
        unique=True,
        postgresql_where=sa.text("NOT is_guest AND deleted_at IS NULL"),
    )
    op.create_table(
        "discount_codes",
        sa.Column("discount_id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("usage_limit", sa.Integer(), nullable=True),
        sa.Column("usage_count", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "products",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("vendor", sa.Text(), nullable=True),
        sa.Column("brand", sa.Text(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("seo_title", sa.Text(), nullable=True),
        sa.Column("seo_description", sa.Text(), nullable=True),
        sa.Column("requires_shipping", sa.Boolean(), nullable=False),
        sa.Column("tax_class_id", sa.UUID(), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(
                "setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A') || setweight(to_tsvector('simple'::regconfig, coalesce(brand, '') || ' ' || coalesce(vendor, '')), 'B') || setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'C')",
                persisted=True,
            ),
            nullable=False,
        ),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('physical', 'digital', 'gift_card')", name=op.f("ck_products_kind")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'archived')", name=op.f("ck_products_status")
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "tax_class_id"],
            ["taxes.store_id", "taxes.id"],
            name=op.f("fk_products_store_id_tax_class_id_taxes"),
            ondelete="SET NULL (tax_class_id)",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_products")),
    )
    op.create_index(
        "ix_products_name_trgm",
        "products",
        ["name"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name": "public.gin_trgm_ops"},
    )
    op.create_index(
        "ix_products_search", "products", ["search_vector"], unique=False, postgresql_using="gin"
    )
    op.create_index(
        "ix_products_store_status", "products", ["store_id", "status", "published_at"], unique=False
    )
    op.create_index(
        "uq_products_store_slug_live",
        "products",
        ["store_id", "slug"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.create_table(
        "shipping_methods",
        sa.Column("zone_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "tax_rules",
        sa.Column("tax_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("postal_pattern", sa.Text(), nullable=True),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("is_compound", sa.Boolean(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "category_products",
        sa.Column("category_id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "category_id"],
            ["categories.store_id", "categories.id"],
            name=op.f("fk_category_products_store_id_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "product_id"],
            ["products.store_id", "products.id"],
            name=op.f("fk_category_products_store_id_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_category_products")),
        sa.UniqueConstraint(
            "store_id",
            "category_id",
            "product_id",
            name=op.f("uq_category_products_store_id_category_id_product_id"),
        ),
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
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "product_options",
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "product_id"],
            ["products.store_id", "products.id"],
            name=op.f("fk_product_options_store_id_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_product_options")),
        sa.UniqueConstraint(
            "store_id",
            "product_id",
            "name",
            name=op.f("uq_product_options_store_id_product_id_name"),
        ),
    )
    op.create_table(
        "product_variants",
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("sku", sa.Text(), nullable=True),
        sa.Column("barcode", sa.Text(), nullable=True),
        sa.Column("option_values", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("weight_grams", sa.Integer(), nullable=True),
        sa.Column("track_inventory", sa.Boolean(), nullable=False),
        sa.Column("allow_backorder", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "weight_grams IS NULL OR weight_grams >= 0", name=op.f("ck_product_variants_weight")
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "product_id"],
            ["products.store_id", "products.id"],
            name=op.f("fk_product_variants_store_id_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_product_variants")),
    )
    op.create_index(
        "ix_product_variants_product",
        "product_variants",
        ["store_id", "product_id", "position"],
        unique=False,
    )
    op.create_index(
        "uq_product_variants_barcode_live",
        "product_variants",
        ["store_id", "barcode"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL AND barcode IS NOT NULL"),
    )
    op.create_index(
        "uq_product_variants_one_default",
        "product_variants",
        ["store_id", "product_id"],
        unique=True,
        postgresql_where=sa.text("is_default AND deleted_at IS NULL"),
    )
    op.create_index(
        "uq_product_variants_sku_live",
        "product_variants",
        ["store_id", "sku"],
        unique=True,
        postgresql_where=sa.text("deleted_at IS NULL AND sku IS NOT NULL"),
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
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
    op.create_table(
        "cart_items",
        sa.Column("cart_id", sa.UUID(), nullable=False),
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_amount", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
    op.create_table(
        "discount_redemptions",
        sa.Column("discount_id", sa.UUID(), nullable=False),
        sa.Column("code_id", sa.UUID(), nullable=True),
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.UUID(), nullable=True),
        sa.Column("customer_email", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
    op.create_table(
        "fulfillments",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("carrier", sa.Text(), nullable=True),
        sa.Column("tracking_number", sa.Text(), nullable=True),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "inventory",
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("location_id", sa.UUID(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("incoming", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
    op.create_table(
        "order_history",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("from_status", sa.Text(), nullable=True),
        sa.Column("to_status", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
    op.create_table(
        "prices",
        sa.Column("variant_id", sa.UUID(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("compare_at_amount", sa.BigInteger(), nullable=True),
        sa.Column("cost_amount", sa.BigInteger(), nullable=True),
        sa.Column("min_quantity", sa.Integer(), nullable=False),
        sa.Column("price_rule_id", sa.UUID(), nullable=True),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "product_images",
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("variant_id", sa.UUID(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("alt", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "product_id"],
            ["products.store_id", "products.id"],
            name=op.f("fk_product_images_store_id_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "variant_id"],
            ["product_variants.store_id", "product_variants.id"],
            name=op.f("fk_product_images_store_id_variant_id_product_variants"),
            ondelete="SET NULL (variant_id)",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_product_images")),
    )
    op.create_index(
        "ix_product_images_product",
        "product_images",
        ["store_id", "product_id", "position"],
        unique=False,
    )
    op.create_table(
        "product_option_values",
        sa.Column("option_id", sa.UUID(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["store_id", "option_id"],
            ["product_options.store_id", "product_options.id"],
            name=op.f("fk_product_option_values_store_id_option_id_product_options"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_product_option_values")),
        sa.UniqueConstraint(
            "store_id",
            "option_id",
            "value",
            name=op.f("uq_product_option_values_store_id_option_id_value"),
        ),
    )
    op.create_table(
        "returns",
        sa.Column("order_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("refund_amount", sa.BigInteger(), nullable=False),
        sa.Column("restock", sa.Boolean(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "fulfillment_items",
        sa.Column("fulfillment_id", sa.UUID(), nullable=False),
        sa.Column("order_item_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
        "return_items",
        sa.Column("return_id", sa.UUID(), nullable=False),
        sa.Column("order_item_id", sa.UUID(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
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
    secure_table(op, "categories")
    secure_table(op, "currency_settings")
    secure_table(op, "discounts")
    secure_table(op, "inventory_locations")
    secure_table(op, "payment_methods")
    secure_table(op, "price_rules")
    secure_table(op, "shipping_zones")
    secure_table(op, "store_counters")
    secure_table(op, "taxes")
    secure_table(op, "customers")
    secure_table(op, "discount_codes")
    secure_table(op, "products")
    secure_table(op, "shipping_methods")
    secure_table(op, "tax_rules")
    secure_table(op, "carts")
    secure_table(op, "category_products")
    secure_table(op, "customer_addresses")
    secure_table(op, "orders")
    secure_table(op, "product_options")
    secure_table(op, "product_variants")
    secure_table(op, "shipping_rates")
    secure_table(op, "cart_items")
    secure_table(op, "discount_redemptions")
    secure_table(op, "fulfillments")
    secure_table(op, "inventory")
    secure_table(op, "inventory_adjustments")
    secure_table(op, "inventory_reservations")
    secure_table(op, "order_history", append_only=True)
    secure_table(op, "order_items")
    secure_table(op, "payment_transactions", append_only=True)
    secure_table(op, "prices")
    secure_table(op, "product_images")
    secure_table(op, "product_option_values")
    secure_table(op, "returns")
    secure_table(op, "fulfillment_items")
    secure_table(op, "return_items")


def downgrade() -> None:
    op.drop_table("return_items")
    op.drop_table("fulfillment_items")
    op.drop_table("returns")
    op.drop_table("product_option_values")
    op.drop_index("ix_product_images_product", table_name="product_images")
    op.drop_table("product_images")
    op.drop_table("prices")
    op.drop_table("payment_transactions")
    op.drop_index("ix_order_items_order", table_name="order_items")
    op.drop_table("order_items")
    op.drop_index("ix_order_history_order", table_name="order_history")
    op.drop_table("order_history")
    op.drop_index(
        "ix_inventory_reservations_open",
        table_name="inventory_reservations",
        postgresql_where=sa.text("released_at IS NULL"),
    )
    op.drop_table("inventory_reservations")
    op.drop_index("ix_inventory_adjustments_variant", table_name="inventory_adjustments")
    op.drop_table("inventory_adjustments")
    op.drop_table("inventory")
    op.drop_table("fulfillments")
    op.drop_index("ix_discount_redemptions_customer", table_name="discount_redemptions")
    op.drop_table("discount_redemptions")
    op.drop_table("cart_items")
    op.drop_table("shipping_rates")
    op.drop_index(
        "uq_product_variants_sku_live",
        table_name="product_variants",
        postgresql_where=sa.text("deleted_at IS NULL AND sku IS NOT NULL"),
    )
    op.drop_index(
        "uq_product_variants_one_default",
        table_name="product_variants",
        postgresql_where=sa.text("is_default AND deleted_at IS NULL"),
    )
    op.drop_index(
        "uq_product_variants_barcode_live",
        table_name="product_variants",
        postgresql_where=sa.text("deleted_at IS NULL AND barcode IS NOT NULL"),
    )
    op.drop_index("ix_product_variants_product", table_name="product_variants")
    op.drop_table("product_variants")
    op.drop_table("product_options")
    op.drop_index("ix_orders_store_placed", table_name="orders")
    op.drop_index("ix_orders_customer", table_name="orders")
    op.drop_table("orders")
    op.drop_index(
        "uq_customer_addresses_default_shipping",
        table_name="customer_addresses",
        postgresql_where=sa.text("is_default_shipping"),
    )
    op.drop_index(
        "uq_customer_addresses_default_billing",
        table_name="customer_addresses",
        postgresql_where=sa.text("is_default_billing"),
    )
    op.drop_table("customer_addresses")
    op.drop_table("category_products")
    op.drop_table("carts")
    op.drop_index("ix_tax_rules_lookup", table_name="tax_rules")
    op.drop_table("tax_rules")
    op.drop_table("shipping_methods")
    op.drop_index(
        "uq_products_store_slug_live",
        table_name="products",
        postgresql_where=sa.text("deleted_at IS NULL"),
    )
    op.drop_index("ix_products_store_status", table_name="products")
    op.drop_index("ix_products_search", table_name="products", postgresql_using="gin")
    op.drop_index(
        "ix_products_name_trgm",
        table_name="products",
        postgresql_using="gin",
        postgresql_ops={"name": "public.gin_trgm_ops"},
    )
    op.drop_table("products")
    op.drop_index("uq_discount_codes_code", table_name="discount_codes")
    op.drop_table("discount_codes")
    op.drop_index(
        "uq_customers_account_email",
        table_name="customers",
        postgresql_where=sa.text("NOT is_guest AND deleted_at IS NULL"),
    )
    op.drop_index("ix_customers_email", table_name="customers")
    op.drop_table("customers")
    op.drop_index(
        "uq_taxes_one_default", table_name="taxes", postgresql_where=sa.text("is_default")
    )
    op.drop_table("taxes")
    op.drop_table("store_counters")
    op.drop_table("shipping_zones")
    op.drop_table("price_rules")
    op.drop_table("payment_methods")
    op.drop_index(
        "uq_inventory_locations_one_default",
        table_name="inventory_locations",
        postgresql_where=sa.text("is_default"),
    )
    op.drop_table("inventory_locations")
    op.drop_table("discounts")
    op.drop_index(
        "uq_currency_settings_one_default",
        table_name="currency_settings",
        postgresql_where=sa.text("is_default"),
    )
    op.drop_table("currency_settings")
    op.drop_index("ix_categories_path", table_name="categories")
    op.drop_table("categories")
