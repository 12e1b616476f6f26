"""``users`` in the tenant: the owner (synced from the control plane), staff and customers."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.tenancy.base import TenantBase, TenantTable

ROLES = ("owner", "admin", "staff", "customer")
ACCOUNT_TYPES = ("agency", "staff", "customer")


class TenantUser(TenantTable, TenantBase):
    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_store_email", "store_id", text("lower(email)"), unique=True),
        CheckConstraint("role IN ('owner', 'admin', 'staff', 'customer')", name="role"),
        CheckConstraint("account_type IN ('agency', 'staff', 'customer')", name="account_type"),
        CheckConstraint("credits >= 0", name="credits"),
        Index(
            "ix_users_email_verification_token",
            "store_id",
            "email_verification_token",
            postgresql_where=text("email_verification_token IS NOT NULL"),
        ),
    )

    account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    email: Mapped[str] = mapped_column(Text, nullable=False)
    password_hash: Mapped[str | None] = mapped_column(Text)
    first_name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    last_name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    phone: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    account_type: Mapped[str] = mapped_column(Text, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # sha256 (hex) of the customer's pending verification token, never the token itself.
    email_verification_token: Mapped[str | None] = mapped_column(Text)
    password_reset_token: Mapped[str | None] = mapped_column(Text)
    password_reset_expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    credits: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Sorted last, as in the tenant baseline (t0001), where an earlier ADD COLUMN put it.
    email_verification_expires: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), sort_order=1
    )
