"""tenant baseline: store profile, configuration and users

The store's own row (``stores``: one per store, ``id = store_id``), its storefront
configuration, and the store's users (staff and customer accounts).

Revision ID: t0001_store_users
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storefleet.tenancy.ddl import secure_table, tenant_columns

revision: str = "t0001_store_users"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stores",
        sa.Column("owner_account_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("slug", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("logo_url", sa.Text(), nullable=True),
        sa.Column("banner_url", sa.Text(), nullable=True),
        sa.Column("theme_color", sa.Text(), nullable=True),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("contact_email", sa.Text(), nullable=True),
        sa.Column("contact_phone", sa.Text(), nullable=True),
        sa.Column("address_line1", sa.Text(), nullable=True),
        sa.Column("address_line2", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("postal_code", sa.Text(), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column("website_url", sa.Text(), nullable=True),
        sa.Column("stripe_account_id", sa.Text(), nullable=True),
        sa.Column("deployment_status", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        *tenant_columns(),
        sa.CheckConstraint(
            "country IS NULL OR country ~ '^[A-Z]{2}$'", name=op.f("ck_stores_country")
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_stores_currency")),
        sa.CheckConstraint(
            "theme_color IS NULL OR theme_color ~ '^#[0-9a-fA-F]{6}$'", name=op.f("ck_stores_theme")
        ),
        sa.CheckConstraint("id = store_id", name=op.f("ck_stores_id_is_store")),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_stores")),
        sa.UniqueConstraint("store_id", name="uq_stores_one_per_store"),
    )
    op.create_table(
        "users",
        sa.Column("account_id", sa.UUID(), nullable=True),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("first_name", sa.Text(), nullable=False),
        sa.Column("last_name", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("account_type", sa.Text(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("email_verification_token", sa.Text(), nullable=True),
        sa.Column("password_reset_token", sa.Text(), nullable=True),
        sa.Column("password_reset_expires", sa.DateTime(timezone=True), nullable=True),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        *tenant_columns(),
        sa.Column("email_verification_expires", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "account_type IN ('agency', 'staff', 'customer')", name=op.f("ck_users_account_type")
        ),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'staff', 'customer')", name=op.f("ck_users_role")
        ),
        sa.CheckConstraint("credits >= 0", name=op.f("ck_users_credits")),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_users")),
    )
    op.create_index(
        "uq_users_store_email",
        "users",
        ["store_id", sa.literal_column("lower(email)")],
        unique=True,
    )
    op.create_index(
        "ix_users_email_verification_token",
        "users",
        ["store_id", "email_verification_token"],
        unique=False,
        postgresql_where=sa.text("email_verification_token IS NOT NULL"),
    )
    op.create_table(
        "store_configs",
        sa.Column("profile_id", sa.UUID(), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("theme", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("layout", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("features", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        *tenant_columns(),
        sa.ForeignKeyConstraint(
            ["store_id", "profile_id"],
            ["stores.store_id", "stores.id"],
            name="fk_store_configs_profile",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_store_configs")),
        sa.UniqueConstraint("store_id", name="uq_store_configs_one_per_store"),
    )
    for table in ("stores", "users", "store_configs"):
        secure_table(op, table)


def downgrade() -> None:
    op.drop_table("store_configs")
    op.drop_table("users")
    op.drop_table("stores")
