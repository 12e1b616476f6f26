"""hostname verification: claims are pending until a DNS TXT record proves control

Existing hostnames were routable, so they become verified (at their creation time) with a
fresh token. The name stays unique only among verified rows: a pending claim reserves
nothing, and one store claims a name at most once. Routing caches are told only of changes
that touch a verified row's routing (a failed check, a pending claim added or removed, does
not clear every process's cache).

Revision ID: c0005_hostname_verification
Revises: c0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0005_hostname_verification"
down_revision: str | None = "c0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "store_hostnames",
        sa.Column("status", sa.Text(), server_default="verified", nullable=False),
    )
    op.alter_column("store_hostnames", "status", server_default="pending")
    op.add_column("store_hostnames", sa.Column("verification_token", sa.Text(), nullable=True))
    op.add_column(
        "store_hostnames", sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "store_hostnames", sa.Column("last_checked_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("store_hostnames", sa.Column("last_error", sa.Text(), nullable=True))
    op.execute(
        "UPDATE store_hostnames SET verified_at = created_at,"
        " verification_token = replace(gen_random_uuid()::text, '-', '')"
    )
    op.alter_column("store_hostnames", "verification_token", nullable=False)
    op.create_check_constraint(
        op.f("ck_store_hostnames_status"), "store_hostnames", "status IN ('pending', 'verified')"
    )
    op.create_check_constraint(
        op.f("ck_store_hostnames_verified_at_set"),
        "store_hostnames",
        "(status = 'verified') = (verified_at IS NOT NULL)",
    )
    op.create_check_constraint(
        op.f("ck_store_hostnames_primary_is_verified"),
        "store_hostnames",
        "NOT is_primary OR status = 'verified'",
    )
    op.drop_constraint(op.f("uq_store_hostnames_hostname"), "store_hostnames", type_="unique")
    op.create_unique_constraint(
        op.f("uq_store_hostnames_store_id_hostname"), "store_hostnames", ["store_id", "hostname"]
    )
    op.create_index(
        "uq_store_hostnames_verified_hostname",
        "store_hostnames",
        ["hostname"],
        unique=True,
        postgresql_where=sa.text("status = 'verified'"),
    )
    op.execute(
        """
        DROP TRIGGER store_hostnames_notify ON store_hostnames;
        CREATE TRIGGER store_hostnames_notify_insert AFTER INSERT ON store_hostnames
            FOR EACH ROW WHEN (NEW.status = 'verified')
            EXECUTE FUNCTION notify_routing_change();
        CREATE TRIGGER store_hostnames_notify_delete AFTER DELETE ON store_hostnames
            FOR EACH ROW WHEN (OLD.status = 'verified')
            EXECUTE FUNCTION notify_routing_change();
        CREATE TRIGGER store_hostnames_notify_update AFTER UPDATE ON store_hostnames
            FOR EACH ROW WHEN (
                (OLD.status = 'verified' OR NEW.status = 'verified')
                AND (OLD.store_id, OLD.hostname, OLD.status, OLD.is_primary)
                    IS DISTINCT FROM (NEW.store_id, NEW.hostname, NEW.status, NEW.is_primary)
            )
            EXECUTE FUNCTION notify_routing_change();
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER store_hostnames_notify_update ON store_hostnames;
        DROP TRIGGER store_hostnames_notify_delete ON store_hostnames;
        DROP TRIGGER store_hostnames_notify_insert ON store_hostnames;
        CREATE TRIGGER store_hostnames_notify AFTER INSERT OR UPDATE OR DELETE ON store_hostnames
            FOR EACH ROW EXECUTE FUNCTION notify_routing_change();
        """
    )
    # Pending claims never routed: they go, and the name is unique again.
    op.execute("DELETE FROM store_hostnames WHERE status = 'pending'")
    op.drop_index("uq_store_hostnames_verified_hostname", table_name="store_hostnames")
    op.drop_constraint(
        op.f("uq_store_hostnames_store_id_hostname"), "store_hostnames", type_="unique"
    )
    op.create_unique_constraint(
        op.f("uq_store_hostnames_hostname"), "store_hostnames", ["hostname"]
    )
    for name in ("primary_is_verified", "verified_at_set", "status"):
        op.drop_constraint(op.f(f"ck_store_hostnames_{name}"), "store_hostnames", type_="check")
    for column in ("last_error", "last_checked_at", "verified_at", "verification_token", "status"):
        op.drop_column("store_hostnames", column)
