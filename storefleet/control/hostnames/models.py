"""Hostnames claimed by stores: ``pending`` until DNS proves control, then ``verified``.

Only verified hostnames route and only a verified one can be a store's primary. A pending
claim reserves nothing: several stores may claim the same name, and the first to prove
control holds it (one verified row per name platform-wide).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import ControlBase, created_at, uuid_pk

PENDING = "pending"
VERIFIED = "verified"


class StoreHostname(ControlBase):
    __tablename__ = "store_hostnames"
    __table_args__ = (
        CheckConstraint("hostname = lower(hostname) AND hostname !~ ':'", name="normalized"),
        CheckConstraint("status IN ('pending', 'verified')", name="status"),
        CheckConstraint(
            "(status = 'verified') = (verified_at IS NOT NULL)", name="verified_at_set"
        ),
        CheckConstraint("NOT is_primary OR status = 'verified'", name="primary_is_verified"),
        UniqueConstraint("store_id", "hostname"),
        Index(
            "uq_store_hostnames_verified_hostname",
            "hostname",
            unique=True,
            postgresql_where=text("status = 'verified'"),
        ),
        Index(
            "uq_store_hostnames_primary",
            "store_id",
            unique=True,
            postgresql_where=text("is_primary"),
        ),
        Index("ix_store_hostnames_store_id", "store_id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    store_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("stores.id", ondelete="CASCADE"), nullable=False
    )
    hostname: Mapped[str] = mapped_column(Text, nullable=False)
    is_primary: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=PENDING)
    verification_token: Mapped[str] = mapped_column(Text, nullable=False)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
