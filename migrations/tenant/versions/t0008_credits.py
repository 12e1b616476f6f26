"""tenant baseline: credit balance cache and spending log

The store's view of its platform credits: a cached balance (synced from the control
plane's ledger) and a log of what was spent.

Revision ID: t0008_credits
Revises: t0007_promotions
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from storefleet.tenancy.ddl import secure_table, tenant_columns

revision: str = "t0008_credits"
down_revision: str | None = "t0007_promotions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "credit_balance_cache",
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("ledger_seq", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        *tenant_columns(),
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
        *tenant_columns(),
        sa.PrimaryKeyConstraint("store_id", "id", name=op.f("pk_credit_spending_log")),
    )
    op.create_index(
        "ix_credit_spending_log_seq",
        "credit_spending_log",
        ["store_id", "ledger_seq"],
        unique=False,
    )
    for table in ("credit_balance_cache", "credit_spending_log"):
        secure_table(op, table)


def downgrade() -> None:
    op.drop_table("credit_spending_log")
    op.drop_table("credit_balance_cache")
