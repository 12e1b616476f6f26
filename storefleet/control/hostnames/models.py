"""Hostnames that route to stores: unique platform-wide, one primary per store."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import ControlBase, created_at, uuid_pk


class StoreHostname(ControlBase):
    __tablename__ = "store_hostnames"
    __table_args__ = (
        CheckConstraint("hostname = lower(hostname) AND hostname !~ ':'", name="normalized"),
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
    hostname: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    is_primary: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = created_at()
