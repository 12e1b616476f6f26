"""store published: the registry mirrors the tenant profile's ``published`` for routing

Revision ID: c0008_store_published
Revises: c0007_store_purge
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0008_store_published"
down_revision: str | None = "c0007_store_purge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "stores",
        sa.Column("published", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("stores", "published")
