"""API usage: raw request logs (pruned by retention), per-store daily aggregates, and the
per-minute rate counters every API process shares (unlogged: losing them in a crash loses
at most a minute of counting)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Identity, Index, Integer, SmallInteger, Text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from storefleet.db.base import ControlBase, created_at


class ApiUsageLog(ControlBase):
    __tablename__ = "api_usage_logs"
    __table_args__ = (
        Index("ix_api_usage_logs_store_time", "store_id", "created_at"),
        Index("ix_api_usage_logs_time", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    store_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    account_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    method: Mapped[str] = mapped_column(Text, nullable=False)
    route: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[int] = mapped_column(SmallInteger, nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = created_at()


class UsageMetric(ControlBase):
    __tablename__ = "usage_metrics"

    store_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    errors: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    orders: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    products: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class RateCounter(ControlBase):
    __tablename__ = "rate_counters"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    window_index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, nullable=False)
