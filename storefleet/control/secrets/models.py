"""Platform-level secrets (payment provider keys and the like), encrypted with the keyring."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, Text
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import ControlBase, updated_at


class PlatformSecret(ControlBase):
    __tablename__ = "platform_secrets"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    updated_at: Mapped[datetime] = updated_at()
