"""tenant: the storefront's listing index

The storefront lists visible products (active, published, not deleted) newest first, and
counts them, in one statement (``commerce.catalog.storefront_sql``). This partial index is
that order with that filter: the page is read from it without a sort, and the total by an
index-only scan of it, however many products a store (or the pool) holds.

Revision ID: t0009_storefront_listing
Revises: t0008_credits
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "t0009_storefront_listing"
down_revision: str | None = "t0008_credits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_products_storefront",
        "products",
        ["store_id", sa.text("published_at DESC"), "id"],
        unique=False,
        postgresql_where=sa.text(
            "status = 'active' AND published_at IS NOT NULL AND deleted_at IS NULL"
        ),
    )


def downgrade() -> None:
    op.drop_index("ix_products_storefront", table_name="products")
