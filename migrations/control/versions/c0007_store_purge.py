"""store purge: a purged store stays as a record (its ledger is append-only), its slug is free

Revision ID: c0007_store_purge
Revises: c0006_plan_periods
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0007_store_purge"
down_revision: str | None = "c0006_plan_periods"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("stores", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    op.drop_constraint(op.f("ck_stores_status"), "stores", type_="check")
    op.create_check_constraint(
        "status",
        "stores",
        "status IN ('pending', 'active', 'suspended', 'deleted', 'purged')",
    )
    op.drop_constraint(op.f("uq_stores_slug"), "stores", type_="unique")
    op.create_index(
        op.f("uq_stores_slug"),
        "stores",
        ["slug"],
        unique=True,
        postgresql_where=sa.text("purged_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(op.f("uq_stores_slug"), table_name="stores")
    op.create_unique_constraint(op.f("uq_stores_slug"), "stores", ["slug"])
    op.drop_constraint(op.f("ck_stores_status"), "stores", type_="check")
    op.create_check_constraint(
        "status", "stores", "status IN ('pending', 'active', 'suspended', 'deleted')"
    )
    op.drop_column("stores", "purged_at")
