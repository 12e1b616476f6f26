"""rate counters: the per-minute API counts every process shares, in an unlogged table

Revision ID: c0010_rate_counters
Revises: c0009_login_failures
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0010_rate_counters"
down_revision: str | None = "c0009_login_failures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_counters",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("window_index", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", "window_index", name=op.f("pk_rate_counters")),
        prefixes=["UNLOGGED"],
    )


def downgrade() -> None:
    op.drop_table("rate_counters")
