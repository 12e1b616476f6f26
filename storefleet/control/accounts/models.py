"""Platform accounts: agencies and store owners (the seeds' master ``users``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import ControlBase, created_at, updated_at, uuid_pk

ACCOUNT_TYPES = ("agency", "platform_admin")


class Account(ControlBase):
    __tablename__ = "accounts"
    __table_args__ = (
        Index("uq_accounts_email_lower", text("lower(email)"), unique=True),
        CheckConstraint("account_type IN ('agency', 'platform_admin')", name="account_type"),
        CheckConstraint("token_version >= 0", name="token_version"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    email: Mapped[str] = mapped_column(Text, nullable=False)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    first_name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    last_name: Mapped[str] = mapped_column(Text, nullable=False, default="")
    phone: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(Text)
    company: Mapped[str | None] = mapped_column(Text)
    account_type: Mapped[str] = mapped_column(Text, nullable=False, default="agency")
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class RevokedToken(ControlBase):
    """Token ids refused before their expiry (logout). Rows past ``expires_at`` can be pruned."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(Text, primary_key=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("accounts.id", ondelete="CASCADE")
    )
    subject: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime] = created_at()


class LoginFailure(ControlBase):
    """Recent failed sign-ins of one throttle counter (``control.accounts.login_failures``).

    UNLOGGED: fast to write, emptied by a database crash, which only forgets recent failures.
    Times are seconds since the epoch of the throttle's clock.
    """

    __tablename__ = "login_failures"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key: Mapped[bytes] = mapped_column(
        LargeBinary,
        primary_key=True,
        # Read by control.secrets.registry (``PLAIN_BINARY``): key rotation skips it.
        info={"plain_binary": "a digest of the throttle's counter key, nothing encrypted"},
    )
    failures: Mapped[list[float]] = mapped_column(ARRAY(Double), nullable=False)
    expires_at: Mapped[float] = mapped_column(Double, nullable=False, index=True)
