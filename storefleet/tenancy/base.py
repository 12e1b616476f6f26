"""Declarative base of the tenant schema, shared by all three placements.

Every tenant table carries ``store_id`` and a primary key ``(store_id, id)``; foreign keys
between tenant tables include ``store_id``. Tables are declared without a schema: the
session's ``search_path`` (set per transaction) picks the pool, a store's schema, or a
store's database.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, MetaData
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storefleet.db.base import NAMING_CONVENTION, created_at, updated_at
from storefleet.db.ids import uuid7


class TenantBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantTable:
    """Mixin: the columns every tenant table starts with."""

    store_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid7)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


def tenant_fk(
    column: str, table: str, *, ondelete: str | None = None, nullable: bool = False
) -> ForeignKeyConstraint:
    """A foreign key that includes ``store_id``: no row can point into another store.

    For a nullable reference, ``ON DELETE SET NULL (column)`` clears only the reference,
    never ``store_id`` (PostgreSQL 15+).
    """
    if nullable and ondelete is None:
        ondelete = f"SET NULL ({column})"
    return ForeignKeyConstraint(
        ["store_id", column],
        [f"{table}.store_id", f"{table}.id"],
        ondelete=ondelete,
    )
