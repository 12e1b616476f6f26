"""The rows every new store starts with, written in one round trip.

The profile, its config, the owner as a tenant user, and what a store needs to sell on day
one: its default currency and a stock location. The INSERTs are generated from the tenant
models (so a new column with a Python-side default is filled in), compiled once per
process, and sent through a psycopg pipeline: the whole seed is one network round trip,
which matters most for a ``database`` store, whose seed runs on a brand-new backend.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert

from storefleet.commerce.inventory.models import InventoryLocation
from storefleet.commerce.pricing.models import CurrencySetting
from storefleet.commerce.store.models import StoreConfig, StoreProfile
from storefleet.commerce.users.models import TenantUser
from storefleet.control.accounts.models import Account
from storefleet.control.stores.models import Store
from storefleet.tenancy import ddl
from storefleet.tenancy.base import TenantBase

DEFAULT_CURRENCY = "USD"
_DIALECT = postgresql.psycopg.dialect()
_ENTER_STORE = "SELECT set_config('role', %s, true), set_config('search_path', %s, true), " + (
    f"set_config('{ddl.STORE_SETTING}', %s, true)"
)


@dataclass(frozen=True)
class Seed:
    """What the seed rows of a store need from the control plane (plain values, thread-safe)."""

    store_id: uuid.UUID
    name: str
    slug: str
    owner_id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    email_verified: bool

    @classmethod
    def of(cls, store: Store, owner: Account) -> Seed:
        return cls(
            store_id=store.id,
            name=store.name,
            slug=store.slug,
            owner_id=owner.id,
            email=owner.email,
            first_name=owner.first_name,
            last_name=owner.last_name,
            email_verified=owner.email_verified,
        )

    def rows(self) -> list[tuple[type[TenantBase], dict[str, Any]]]:
        """(model, given values) per seed row; defaults are the models' own."""
        store_id = self.store_id
        return [
            (
                StoreProfile,
                {
                    "store_id": store_id,
                    "id": store_id,
                    "owner_account_id": self.owner_id,
                    "name": self.name,
                    "slug": self.slug,
                    "currency": DEFAULT_CURRENCY,
                    "timezone": "UTC",
                    "contact_email": self.email,
                },
            ),
            (StoreConfig, {"store_id": store_id, "profile_id": store_id}),
            (
                CurrencySetting,
                {
                    "store_id": store_id,
                    "code": DEFAULT_CURRENCY,
                    "is_enabled": True,
                    "is_default": True,
                },
            ),
            (
                InventoryLocation,
                {"store_id": store_id, "name": "Main", "code": "main", "is_default": True},
            ),
            (
                TenantUser,
                {
                    "store_id": store_id,
                    "account_id": self.owner_id,
                    "email": self.email,
                    "first_name": self.first_name,
                    "last_name": self.last_name,
                    "role": "owner",
                    "account_type": "agency",
                    "email_verified": self.email_verified,
                },
            ),
        ]


def with_python_defaults(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` plus every column default SQLAlchemy would compute client-side."""
    row = dict(values)
    for column in table.columns:
        default = column.default
        if column.key in row or default is None:
            continue
        if default.is_scalar:
            row[column.key] = default.arg  # type: ignore[attr-defined]
        elif default.is_callable:
            row[column.key] = default.arg(None)  # type: ignore[attr-defined]
    return row


@functools.cache
def insert_sql(table: Table, columns: tuple[str, ...]) -> str:
    """``INSERT … ON CONFLICT DO NOTHING`` with ``%(column)s`` placeholders, compiled once."""
    statement = (
        insert(table).values({name: bindparam(name) for name in columns}).on_conflict_do_nothing()
    )
    return str(statement.compile(dialect=_DIALECT))


def seed_statements(schema: str, seed: Seed) -> Iterator[tuple[str, Any]]:
    """(SQL, parameters) in order: enter the store as the owner role, then the inserts.

    RLS is forced even for the table owner, so the store is entered with
    ``set_config(..., true)``: this transaction only.
    """
    search_path = ddl.ident(ddl.checked_schema(schema))
    yield _ENTER_STORE, (ddl.OWNER_ROLE, search_path, str(seed.store_id))
    for model, values in seed.rows():
        table = cast(Table, model.__table__)
        row = with_python_defaults(table, values)
        params = {k: Jsonb(v) if isinstance(v, dict | list) else v for k, v in row.items()}
        yield insert_sql(table, tuple(sorted(row))), params


def seed_rows(conn: psycopg.Connection[Any], schema: str, seed: Seed) -> None:
    """Insert a store's seed rows in the caller's transaction, pipelined; idempotent."""
    with conn.pipeline():
        for statement, params in seed_statements(schema, seed):
            conn.execute(statement, params)


def seed_new_database(conninfo: str, seed: Seed) -> None:
    """Connect to a store's new database and commit its seed rows: one round trip after
    the connection is made (BEGIN, the statements and COMMIT share one pipeline sync)."""
    with psycopg.connect(conninfo, prepare_threshold=None) as conn:
        with conn.pipeline():
            for statement, params in seed_statements(ddl.DATABASE_SCHEMA, seed):
                conn.execute(statement, params)
            conn.commit()
