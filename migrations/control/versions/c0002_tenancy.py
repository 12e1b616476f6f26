"""tenancy: servers, store databases, hostnames, moves

Revision ID: c0002
Revises: c0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c0002"
down_revision: str | None = "c0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "database_servers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("admin_url_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("app_password_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("server_version", sa.Integer(), nullable=True),
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
            "name ~ '^[a-z0-9][a-z0-9-]{0,62}$'", name=op.f("ck_database_servers_name_format")
        ),
        sa.CheckConstraint(
            "status IN ('active', 'draining', 'disabled')", name=op.f("ck_database_servers_status")
        ),
        sa.CheckConstraint("capacity > 0", name=op.f("ck_database_servers_capacity")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_database_servers")),
        sa.UniqueConstraint("name", name=op.f("uq_database_servers_name")),
    )
    op.create_index(
        "uq_database_servers_default",
        "database_servers",
        ["is_default"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "tenant_migration_files",
        sa.Column("revision", sa.Text(), nullable=False),
        sa.Column("checksum", sa.Text(), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_tenant_migration_files")),
    )
    op.create_table(
        "store_databases",
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("placement", sa.Text(), nullable=False),
        sa.Column("server_id", sa.UUID(), nullable=True),
        sa.Column("database_name", sa.Text(), nullable=False),
        sa.Column("schema_name", sa.Text(), nullable=False),
        sa.Column("credentials_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("isolation", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("step", sa.Text(), nullable=True),
        sa.Column("schema_revision", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("writes_paused", sa.Boolean(), nullable=False),
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
            "database_name ~ '^[a-z][a-z0-9_]{0,62}$'",
            name=op.f("ck_store_databases_database_name"),
        ),
        sa.CheckConstraint(
            "placement IN ('pool', 'schema', 'database')", name=op.f("ck_store_databases_placement")
        ),
        sa.CheckConstraint(
            "schema_name ~ '^(pool|tenant|store_[0-9a-f]{32})$'",
            name=op.f("ck_store_databases_schema_name"),
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'provisioning', 'ready', 'failed')",
            name=op.f("ck_store_databases_status"),
        ),
        sa.CheckConstraint(
            "(server_id IS NULL) = (credentials_ciphertext IS NOT NULL)",
            name=op.f("ck_store_databases_server_or_url"),
        ),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["database_servers.id"],
            name=op.f("fk_store_databases_server_id_database_servers"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_store_databases_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_store_databases")),
    )
    op.create_index(
        "ix_store_databases_revision", "store_databases", ["schema_revision"], unique=False
    )
    op.create_index(
        "ix_store_databases_server", "store_databases", ["server_id", "database_name"], unique=False
    )
    op.create_table(
        "store_hostnames",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("hostname", sa.Text(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "hostname = lower(hostname) AND hostname !~ ':'",
            name=op.f("ck_store_hostnames_normalized"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_store_hostnames_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_hostnames")),
        sa.UniqueConstraint("hostname", name=op.f("uq_store_hostnames_hostname")),
    )
    op.create_index("ix_store_hostnames_store_id", "store_hostnames", ["store_id"], unique=False)
    op.create_index(
        "uq_store_hostnames_primary",
        "store_hostnames",
        ["store_id"],
        unique=True,
        postgresql_where=sa.text("is_primary"),
    )
    op.create_table(
        "store_moves",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("store_id", sa.UUID(), nullable=False),
        sa.Column("source", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("target", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("phase", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'completed', 'failed', 'abandoned')",
            name=op.f("ck_store_moves_status"),
        ),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.id"],
            name=op.f("fk_store_moves_store_id_stores"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_moves")),
    )
    op.create_index(
        "uq_store_moves_running",
        "store_moves",
        ["store_id"],
        unique=True,
        postgresql_where=sa.text("status = 'running'"),
    )
    # Every process caches routing (hostnames, placements, store status); a change anywhere
    # tells all of them which store to forget.
    op.execute(
        """
        CREATE FUNCTION notify_routing_change() RETURNS trigger
        LANGUAGE plpgsql SET search_path = '' AS $$
        DECLARE
            changed uuid;
        BEGIN
            IF TG_TABLE_NAME = 'stores' THEN
                changed := COALESCE(NEW.id, OLD.id);
            ELSE
                changed := COALESCE(NEW.store_id, OLD.store_id);
            END IF;
            PERFORM pg_notify('storefleet_routing', TG_TABLE_NAME || ':' || changed::text);
            RETURN NULL;
        END $$;
        CREATE TRIGGER store_hostnames_notify AFTER INSERT OR UPDATE OR DELETE ON store_hostnames
            FOR EACH ROW EXECUTE FUNCTION notify_routing_change();
        CREATE TRIGGER store_databases_notify AFTER INSERT OR UPDATE OR DELETE ON store_databases
            FOR EACH ROW EXECUTE FUNCTION notify_routing_change();
        CREATE TRIGGER stores_notify AFTER UPDATE OR DELETE ON stores
            FOR EACH ROW EXECUTE FUNCTION notify_routing_change();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS stores_notify ON stores")
    op.execute("DROP TRIGGER IF EXISTS store_databases_notify ON store_databases")
    op.execute("DROP TRIGGER IF EXISTS store_hostnames_notify ON store_hostnames")
    op.execute("DROP FUNCTION IF EXISTS notify_routing_change()")
    op.drop_index(
        "uq_store_moves_running",
        table_name="store_moves",
        postgresql_where=sa.text("status = 'running'"),
    )
    op.drop_table("store_moves")
    op.drop_index(
        "uq_store_hostnames_primary",
        table_name="store_hostnames",
        postgresql_where=sa.text("is_primary"),
    )
    op.drop_index("ix_store_hostnames_store_id", table_name="store_hostnames")
    op.drop_table("store_hostnames")
    op.drop_index("ix_store_databases_server", table_name="store_databases")
    op.drop_index("ix_store_databases_revision", table_name="store_databases")
    op.drop_table("store_databases")
    op.drop_table("tenant_migration_files")
    op.drop_index(
        "uq_database_servers_default",
        table_name="database_servers",
        postgresql_where=sa.text("is_default"),
    )
    op.drop_table("database_servers")
