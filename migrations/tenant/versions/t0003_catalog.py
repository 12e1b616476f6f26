"""tenant baseline: catalog: categories, products, options, variants, images

``ix_products_name_trgm`` needs pg_trgm, which the migrator installs (in ``public``)
before any revision runs.

Revision ID: t0003_catalog
Revises: t0002_tax_shipping
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storefleet.tenancy.ddl import secure_table, tenant_columns

revision: str = "t0003_catalog"
down_revision: str | None = "t0002_tax_shipping"
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
        *tenant_columns(),
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
        *tenant_columns(),
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
        "category_products",
        sa.Column("category_id", sa.UUID(), nullable=False),
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *tenant_columns(),
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
        "product_options",
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *tenant_columns(),
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
        "product_option_values",
        sa.Column("option_id", sa.UUID(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *tenant_columns(),
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
        *tenant_columns(),
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
        "product_images",
        sa.Column("product_id", sa.UUID(), nullable=False),
        sa.Column("variant_id", sa.UUID(), nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("alt", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *tenant_columns(),
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
    for table in (
        "categories",
        "products",
        "category_products",
        "product_options",
        "product_option_values",
        "product_variants",
        "product_images",
    ):
        secure_table(op, table)


def downgrade() -> None:
    op.drop_table("product_images")
    op.drop_table("product_variants")
    op.drop_table("product_option_values")
    op.drop_table("product_options")
    op.drop_table("category_products")
    op.drop_table("products")
    op.drop_table("categories")
