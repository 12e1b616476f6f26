"""customer email verification: token expiry, token lookup, unlinked-email uniqueness

Revision ID: t0004_customer_verification
Revises: t0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "t0004_customer_verification"
down_revision: str | None = "t0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("email_verification_expires", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ix_users_email_verification_token",
        "users",
        ["store_id", "email_verification_token"],
        unique=False,
        postgresql_where=sa.text("email_verification_token IS NOT NULL"),
    )
    op.drop_index("uq_customers_account_email", table_name="customers")
    op.create_index(
        "uq_customers_unlinked_email",
        "customers",
        ["store_id", sa.literal_column("lower(email)")],
        unique=True,
        postgresql_where=sa.text("NOT is_guest AND user_id IS NULL AND deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_customers_unlinked_email", table_name="customers")
    op.create_index(
        "uq_customers_account_email",
        "customers",
        ["store_id", sa.literal_column("lower(email)")],
        unique=True,
        postgresql_where=sa.text("NOT is_guest AND deleted_at IS NULL"),
    )
    op.drop_index("ix_users_email_verification_token", table_name="users")
    op.drop_column("users", "email_verification_expires")
