"""Control-plane records of where each store's data lives and how it got there."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import ControlBase, created_at, updated_at, uuid_pk

PLACEMENTS = ("pool", "schema", "database")
PROVISIONING_STATUSES = ("pending", "provisioning", "ready", "failed")


class StoreDatabase(ControlBase):
    """The placement of one store. ``credentials_ciphertext`` holds an owner-supplied URL."""

    __tablename__ = "store_databases"
    __table_args__ = (
        CheckConstraint("placement IN ('pool', 'schema', 'database')", name="placement"),
        CheckConstraint("status IN ('pending', 'provisioning', 'ready', 'failed')", name="status"),
        CheckConstraint("schema_name ~ '^(pool|tenant|store_[0-9a-f]{32})$'", name="schema_name"),
        CheckConstraint("database_name ~ '^[a-z][a-z0-9_]{0,62}$'", name="database_name"),
        CheckConstraint(
            "(server_id IS NULL) = (credentials_ciphertext IS NOT NULL)", name="server_or_url"
        ),
        Index("ix_store_databases_server", "server_id", "database_name"),
        Index("ix_store_databases_revision", "schema_revision"),
    )

    store_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True
    )
    placement: Mapped[str] = mapped_column(Text, nullable=False)
    server_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("database_servers.id", ondelete="RESTRICT")
    )
    database_name: Mapped[str] = mapped_column(Text, nullable=False)
    schema_name: Mapped[str] = mapped_column(Text, nullable=False)
    credentials_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    isolation: Mapped[str] = mapped_column(Text, nullable=False, default="dedicated_role")
    status: Mapped[str] = mapped_column(Text, nullable=False, default="pending")
    step: Mapped[str | None] = mapped_column(Text)
    schema_revision: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    writes_paused: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class StoreMove(ControlBase):
    """One move of a store between placements or servers, phase by phase."""

    __tablename__ = "store_moves"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'completed', 'failed', 'abandoned')", name="status"),
        Index(
            "uq_store_moves_running",
            "store_id",
            unique=True,
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    store_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
    )
    source: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    target: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    phase: Mapped[str] = mapped_column(Text, nullable=False, default="started")
    status: Mapped[str] = mapped_column(Text, nullable=False, default="running")
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TenantMigrationFile(ControlBase):
    """Checksum of each tenant migration file when first applied: edits to history are refused."""

    __tablename__ = "tenant_migration_files"

    revision: Mapped[str] = mapped_column(Text, primary_key=True)
    checksum: Mapped[str] = mapped_column(Text, nullable=False)
    recorded_at: Mapped[datetime] = created_at()
