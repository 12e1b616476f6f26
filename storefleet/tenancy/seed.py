"""The rows every new store starts with, written in one round trip.

Which rows those are is the domain's to say (``SeedSteps``, handed over when the
application is assembled; commerce's are in ``storefleet.commerce.seed``). The INSERTs are
generated from the tenant models (so a new column with a Python-side default is filled
in), compiled once per process, and sent through a psycopg pipeline: the whole seed is
one network round trip, which matters most for a ``database`` store, whose seed runs on a
brand-new backend.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert

from storefleet.tenancy import ddl
from storefleet.tenancy.base import TenantBase

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


SeedRow = tuple[type[TenantBase], dict[str, Any]]
SeedSteps = Callable[[Seed], list[SeedRow]]
"""(model, given values) per seed row, in insert order; defaults are the models' own."""


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


def seed_statements(schema: str, seed: Seed, steps: SeedSteps) -> Iterator[tuple[str, Any]]:
    """(SQL, parameters) in order: enter the store as the owner role, then the inserts.

    RLS is forced even for the table owner, so the store is entered with
    ``set_config(..., true)``: this transaction only.
    """
    search_path = ddl.ident(ddl.checked_schema(schema))
    yield _ENTER_STORE, (ddl.OWNER_ROLE, search_path, str(seed.store_id))
    for model, values in steps(seed):
        table = cast(Table, model.__table__)
        row = with_python_defaults(table, values)
        params = {k: Jsonb(v) if isinstance(v, dict | list) else v for k, v in row.items()}
        yield insert_sql(table, tuple(sorted(row))), params


def seed_rows(conn: psycopg.Connection[Any], schema: str, seed: Seed, steps: SeedSteps) -> None:
    """Insert a store's seed rows in the caller's transaction, pipelined; idempotent."""
    with conn.pipeline():
        for statement, params in seed_statements(schema, seed, steps):
            conn.execute(statement, params)


def seed_new_database(conninfo: str, seed: Seed, steps: SeedSteps) -> None:
    """Connect to a store's new database and commit its seed rows: one round trip after
    the connection is made (BEGIN, the statements and COMMIT share one pipeline sync)."""
    with psycopg.connect(conninfo, prepare_threshold=None) as conn:
        with conn.pipeline():
            for statement, params in seed_statements(ddl.DATABASE_SCHEMA, seed, steps):
                conn.execute(statement, params)
            conn.commit()
