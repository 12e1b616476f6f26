"""plan periods: a subscription remembers its provider subscription; one open plan checkout

Revision ID: c0006_plan_periods
Revises: c0005_hostname_verification
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0006_plan_periods"
down_revision: str | None = "c0005_hostname_verification"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("subscriptions", sa.Column("provider_subscription_id", sa.Text(), nullable=True))
    op.add_column("subscriptions", sa.Column("provider_customer_id", sa.Text(), nullable=True))
    op.create_unique_constraint(
        op.f("uq_subscriptions_provider_subscription_id"),
        "subscriptions",
        ["provider_subscription_id"],
    )
    op.create_index(
        "uq_billing_transactions_open_plan_checkout",
        "billing_transactions",
        ["store_id"],
        unique=True,
        postgresql_where=sa.text("purpose = 'subscription' AND status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("uq_billing_transactions_open_plan_checkout", table_name="billing_transactions")
    op.drop_constraint(
        op.f("uq_subscriptions_provider_subscription_id"), "subscriptions", type_="unique"
    )
    op.drop_column("subscriptions", "provider_customer_id")
    op.drop_column("subscriptions", "provider_subscription_id")
