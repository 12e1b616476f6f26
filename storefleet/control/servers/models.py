"""Database servers that host tenant databases, with their encrypted admin credentials."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, LargeBinary, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import ControlBase, created_at, updated_at, uuid_pk


class DatabaseServer(ControlBase):
    __tablename__ = "database_servers"
    __table_args__ = (
        CheckConstraint("name ~ '^[a-z0-9][a-z0-9-]{0,62}$'", name="name_format"),
        CheckConstraint("status IN ('active', 'draining', 'disabled')", name="status"),
        CheckConstraint("capacity > 0", name="capacity"),
        Index(
            "uq_database_servers_default",
            "is_default",
            unique=True,
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    admin_url_ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    app_password_ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False, default=1000)
    status: Mapped[str] = mapped_column(Text, nullable=False, default="active")
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    server_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
