"""credits, plans, billing, usage

Revision ID: c0003
Revises: c0002
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c0003"
down_revision: str | None = "c0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_usage_logs",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=True),
        sa.Column("account_id", sa.UUID(), nullable=True),
        sa.Column("method", sa.Text(), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_usage_logs")),
    )
    op.create_index(
        "ix_api_usage_logs_store_time", "api_usage_logs", ["store_id", "created_at"], unique=False
    )
    op.create_index("ix_api_usage_logs_time", "api_usage_logs", ["created_at"], unique=False)
    op.create_table(
        "plans",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("monthly_price", sa.BigInteger(), nullable=False),
        sa.Column("annual_price", sa.BigInteger(), nullable=False),
        sa.Column("included_credits", sa.Integer(), nullable=False),
        sa.Column("max_products", sa.Integer(), nullable=True),
        sa.Column("max_orders_per_month", sa.Integer(), nullable=True),
        sa.Column("max_storage_mb", sa.Integer(), nullable=True),
        sa.Column("max_api_calls_per_month", sa.Integer(), nullable=True),
        sa.Column("max_api_calls_per_minute", sa.Integer(), nullable=True),
        sa.Column("trial_days", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("included_credits >= 0", name=op.f("ck_plans_credits")),
        sa.CheckConstraint(
            "monthly_price >= 0 AND annual_price >= 0", name=op.f("ck_plans_prices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_plans_code")),
    )
    op.create_table(
        "provider_events",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_provider_events")),
    )
    op.create_table(
        "service_credit_costs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("service_key", sa.Text(), nullable=False),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "effective_from",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "service_key ~ '^[a-z0-9][a-z0-9._-]{0,99}$'",
            name=op.f("ck_service_credit_costs_service_key"),
        ),
        sa.CheckConstraint("cost > 0", name=op.f("ck_service_credit_costs_cost")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_credit_costs")),
        sa.UniqueConstraint(
            "service_key",
            "effective_from",
            name=op.f("uq_service_credit_costs_service_key_effective_from"),
        ),
    )
    op.create_table(
        "usage_metrics",
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.BigInteger(), nullable=False),
        sa.Column("orders", sa.BigInteger(), nullable=False),
        sa.Column("products", sa.BigInteger(), nullable=False),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "day", name=op.f("pk_usage_metrics")),
    )
    op.create_table(
        "billing_transactions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("pack", sa.Text(), nullable=True),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("provider_session_id", sa.Text(), nullable=True),
        sa.Column("provider_payment_id", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
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
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'expired')",
            name=op.f("ck_billing_transactions_status"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_billing_transactions_amount")),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_billing_transactions_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_transactions")),
        sa.UniqueConstraint(
            "provider_session_id", name=op.f("uq_billing_transactions_provider_session_id")
        ),
    )
    op.create_table(
        "credit_balances",
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_credit_balances_not_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_credit_balances_account_id_accounts"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_credit_balances_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_credit_balances")),
    )
    op.create_table(
        "credit_transactions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("service_key", sa.Text(), nullable=True),
        sa.Column("reference", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "(kind IN ('spend', 'expiry') AND amount < 0) OR (kind IN ('purchase', 'refund', 'grant') AND amount > 0) OR kind = 'adjustment'",
            name=op.f("ck_credit_transactions_sign"),
        ),
        sa.CheckConstraint(
            "kind IN ('purchase', 'spend', 'refund', 'grant', 'adjustment', 'expiry')",
            name=op.f("ck_credit_transactions_kind"),
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_credit_transactions_amount")),
        sa.CheckConstraint("balance_after >= 0", name=op.f("ck_credit_transactions_balance_after")),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_credit_transactions_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_transactions")),
        sa.UniqueConstraint("seq", name=op.f("uq_credit_transactions_seq")),
        sa.UniqueConstraint(
            "store_id",
            "idempotency_key",
            name=op.f("uq_credit_transactions_store_id_idempotency_key"),
        ),
    )
    op.create_index(
        "ix_credit_transactions_store_seq", "credit_transactions", ["store_id", "seq"], unique=False
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("plan_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("billing_cycle", sa.Text(), nullable=False),
        sa.Column("trial_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.CheckConstraint(
            "billing_cycle IN ('monthly', 'annual')", name=op.f("ck_subscriptions_cycle")
        ),
        sa.CheckConstraint(
            "status IN ('trial', 'active', 'cancelled', 'expired', 'suspended')",
            name=op.f("ck_subscriptions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_subscriptions_plan_id_plans"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_subscriptions_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("store_id", name=op.f("uq_subscriptions_store_id")),
    )
    op.create_table(
        "credit_outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("transaction_id", sa.UUID(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["credit_transactions.id"],
            name=op.f("fk_credit_outbox_transaction_id_credit_transactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_outbox")),
        sa.UniqueConstraint("transaction_id", name=op.f("uq_credit_outbox_transaction_id")),
    )
    op.create_index(
        "ix_credit_outbox_pending",
        "credit_outbox",
        ["id"],
        unique=False,
        postgresql_where=sa.text("delivered_at IS NULL"),
    )
    op.execute(
        """
        CREATE FUNCTION credit_transactions_append_only() RETURNS trigger
        LANGUAGE plpgsql SET search_path = '' AS $$
        BEGIN
            RAISE EXCEPTION 'credit_transactions is append-only'
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER credit_transactions_append_only
            BEFORE UPDATE OR DELETE OR TRUNCATE ON credit_transactions
            FOR EACH STATEMENT EXECUTE FUNCTION credit_transactions_append_only();
        """
    )
    plans = sa.table(
        "plans",
        sa.column("id", sa.UUID()),
        sa.column("code", sa.Text()),
        sa.column("name", sa.Text()),
        sa.column("currency", sa.Text()),
        sa.column("monthly_price", sa.BigInteger()),
        sa.column("annual_price", sa.BigInteger()),
        sa.column("included_credits", sa.Integer()),
        sa.column("max_products", sa.Integer()),
        sa.column("max_orders_per_month", sa.Integer()),
        sa.column("max_storage_mb", sa.Integer()),
        sa.column("max_api_calls_per_month", sa.Integer()),
        sa.column("max_api_calls_per_minute", sa.Integer()),
        sa.column("trial_days", sa.Integer()),
        sa.column("is_active", sa.Boolean()),
        sa.column("position", sa.Integer()),
    )
    op.bulk_insert(
        plans,
        [
            {
                "id": uuid.UUID(int=1),
                "code": "free",
                "name": "Free",
                "currency": "USD",
                "monthly_price": 0,
                "annual_price": 0,
                "included_credits": 100,
                "max_products": 100,
                "max_orders_per_month": 500,
                "max_storage_mb": 500,
                "max_api_calls_per_month": 100_000,
                "max_api_calls_per_minute": 600,
                "trial_days": 14,
                "is_active": True,
                "position": 0,
            },
            {
                "id": uuid.UUID(int=2),
                "code": "starter",
                "name": "Starter",
                "currency": "USD",
                "monthly_price": 2900,
                "annual_price": 29000,
                "included_credits": 1000,
                "max_products": 1000,
                "max_orders_per_month": 5000,
                "max_storage_mb": 5000,
                "max_api_calls_per_month": 1_000_000,
                "max_api_calls_per_minute": 1200,
                "trial_days": 14,
                "is_active": True,
                "position": 1,
            },
            {
                "id": uuid.UUID(int=3),
                "code": "professional",
                "name": "Professional",
                "currency": "USD",
                "monthly_price": 9900,
                "annual_price": 99000,
                "included_credits": 5000,
                "max_products": 10000,
                "max_orders_per_month": 50000,
                "max_storage_mb": 50000,
                "max_api_calls_per_month": 10_000_000,
                "max_api_calls_per_minute": 3000,
                "trial_days": 14,
                "is_active": True,
                "position": 2,
            },
            {
                "id": uuid.UUID(int=4),
                "code": "enterprise",
                "name": "Enterprise",
                "currency": "USD",
                "monthly_price": 49900,
                "annual_price": 499000,
                "included_credits": 50000,
                "max_products": None,
                "max_orders_per_month": None,
                "max_storage_mb": None,
                "max_api_calls_per_month": None,
                "max_api_calls_per_minute": 10000,
                "trial_days": 30,
                "is_active": True,
                "position": 3,
            },
        ],
    )


def downgrade() -> None:
    op.drop_index(
        "ix_credit_outbox_pending",
        table_name="credit_outbox",
        postgresql_where=sa.text("delivered_at IS NULL"),
    )
    op.drop_table("credit_outbox")
    op.drop_table("subscriptions")
    op.drop_index("ix_credit_transactions_store_seq", table_name="credit_transactions")
    op.drop_table("credit_transactions")
    op.execute("DROP FUNCTION IF EXISTS credit_transactions_append_only()")
    op.drop_table("credit_balances")
    op.drop_table("billing_transactions")
    op.drop_table("usage_metrics")
    op.drop_table("service_credit_costs")
    op.drop_table("provider_events")
    op.drop_table("plans")
    op.drop_index("ix_api_usage_logs_time", table_name="api_usage_logs")
    op.drop_index("ix_api_usage_logs_store_time", table_name="api_usage_logs")
    op.drop_table("api_usage_logs")
