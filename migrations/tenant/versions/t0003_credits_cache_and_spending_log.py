"""credits cache and spending log

Revision ID: t0003
Revises: t0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storefleet.tenancy.ddl import secure_table

revision: str = "t0003"
down_revision: str | None = "t0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_balance_cache",
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
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
        sa.CheckConstraint("balance >= 0", name=op.f("ck_credit_balance_cache_balance")),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_credit_balance_cache")),
        sa.UniqueConstraint("store_id", name="uq_credit_balance_cache_one_per_store"),
    )
    op.create_table(
        "credit_spending_log",
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("service_key", sa.Text(), nullable=True),
        sa.Column("reference", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=True),
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
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_credit_spending_log")),
    )
    op.create_index(
        "ix_credit_spending_log_seq",
        "credit_spending_log",
        ["store_id", "ledger_seq"],
        unique=False,
    )
    secure_table(op, "credit_balance_cache")
    secure_table(op, "credit_spending_log")


def downgrade() -> None:
    op.drop_index("ix_credit_spending_log_seq", table_name="credit_spending_log")
    op.drop_table("credit_spending_log")
    op.drop_table("credit_balance_cache")
