"""Catalog: products with options and variants, images, and a category tree."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import SoftDeleted
from storefleet.tenancy.base import TenantBase, TenantTable, tenant_fk

PRODUCT_STATUSES = ("draft", "active", "archived")
PRODUCT_KINDS = ("physical", "digital", "gift_card")


class Product(SoftDeleted, TenantTable, TenantBase):
    __tablename__ = "products"
    __table_args__ = (
        tenant_fk("tax_class_id", "taxes", nullable=True),
        CheckConstraint("status IN ('draft', 'active', 'archived')", name="status"),
        CheckConstraint("kind IN ('physical', 'digital', 'gift_card')", name="kind"),
        Index(
            "uq_products_store_slug_live",
            "store_id",
            "slug",
            unique=True,
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_products_store_status", "store_id", "status", "published_at"),
        Index(
            "ix_products_storefront",
            "store_id",
            text("published_at DESC"),
            "id",
            postgresql_where=text(
                "status = 'active' AND published_at IS NOT NULL AND deleted_at IS NULL"
            ),
        ),
        Index("ix_products_search", "search_vector", postgresql_using="gin"),
        Index(
            "ix_products_name_trgm",
            "name",
            postgresql_using="gin",
            postgresql_ops={"name": "public.gin_trgm_ops"},
        ),
    )

    name: Mapped[str] = mapped_column(Text, nullable=False)
    slug: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    status: Mapped[str] = mapped_column(Text, nullable=False, default="draft")
    kind: Mapped[str] = mapped_column(Text, nullable=False, default="physical")
    vendor: Mapped[str | None] = mapped_column(Text)
    brand: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list)
    seo_title: Mapped[str | None] = mapped_column(Text)
    seo_description: Mapped[str | None] = mapped_column(Text)
    requires_shipping: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    tax_class_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSONB, nullable=False, default=dict
    )
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "setweight(to_tsvector('simple'::regconfig, coalesce(name, '')), 'A') || "
            "setweight(to_tsvector('simple'::regconfig, coalesce(brand, '') || ' ' || "
            "coalesce(vendor, '')), 'B') || "
            "setweight(to_tsvector('simple'::regconfig, coalesce(description, '')), 'C')",
            persisted=True,
        ),
    )


class ProductOption(TenantTable, TenantBase):
    __tablename__ = "product_options"
    __table_args__ = (
        tenant_fk("product_id", "products", ondelete="CASCADE"),
        UniqueConstraint("store_id", "product_id", "name"),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ProductOptionValue(TenantTable, TenantBase):
    __tablename__ = "product_option_values"
    __table_args__ = (
        tenant_fk("option_id", "product_options", ondelete="CASCADE"),
        UniqueConstraint("store_id", "option_id", "value"),
    )

    option_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ProductVariant(SoftDeleted, TenantTable, TenantBase):
    __tablename__ = "product_variants"
    __table_args__ = (
        tenant_fk("product_id", "products", ondelete="CASCADE"),
        Index(
            "uq_product_variants_sku_live",
            "store_id",
            "sku",
            unique=True,
            postgresql_where=text("deleted_at IS NULL AND sku IS NOT NULL"),
        ),
        Index(
            "uq_product_variants_barcode_live",
            "store_id",
            "barcode",
            unique=True,
            postgresql_where=text("deleted_at IS NULL AND barcode IS NOT NULL"),
        ),
        Index(
            "uq_product_variants_one_default",
            "store_id",
            "product_id",
            unique=True,
            postgresql_where=text("is_default AND deleted_at IS NULL"),
        ),
        Index("ix_product_variants_product", "store_id", "product_id", "position"),
        CheckConstraint("weight_grams IS NULL OR weight_grams >= 0", name="weight"),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False, default="")
    sku: Mapped[str | None] = mapped_column(Text)
    barcode: Mapped[str | None] = mapped_column(Text)
    option_values: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, default=dict)
    weight_grams: Mapped[int | None] = mapped_column(Integer)
    track_inventory: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    allow_backorder: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProductImage(TenantTable, TenantBase):
    __tablename__ = "product_images"
    __table_args__ = (
        tenant_fk("product_id", "products", ondelete="CASCADE"),
        tenant_fk("variant_id", "product_variants", nullable=True),
        Index("ix_product_images_product", "store_id", "product_id", "position"),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    variant_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    url: Mapped[str] = mapped_column(Text, nullable=False)
    alt: Mapped[str] = mapped_column(Text, nullable=False, default="")
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class Category(TenantTable, TenantBase):
    """A node of the category tree; ``path`` is the slug chain from the root (``a/b/c``)."""

    __tablename__ = "categories"
    __table_args__ = (
        tenant_fk("parent_id", "categories", ondelete="RESTRICT"),
        UniqueConstraint("store_id", "slug"),
        Index("ix_categories_path", "store_id", "path"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
    )

    parent_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    name: Mapped[str] = mapped_column(Text, nullable=False)
    slug: Mapped[str] = mapped_column(Text, nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class CategoryProduct(TenantTable, TenantBase):
    __tablename__ = "category_products"
    __table_args__ = (
        tenant_fk("category_id", "categories", ondelete="CASCADE"),
        tenant_fk("product_id", "products", ondelete="CASCADE"),
        UniqueConstraint("store_id", "category_id", "product_id"),
    )

    category_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    product_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
