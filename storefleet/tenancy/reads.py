"""``ReadQuery``: a hot read-only query compiled once, for ``Tenancy.read``'s one round trip."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg
from sqlalchemy.sql import ClauseElement

from storefleet.tenancy.entering import READ_TRANSACTION_SQL

_DRIVER_DIALECT = pg_psycopg.dialect()


@dataclass(frozen=True)
class ReadQuery:
    """A SELECT compiled once (module level) for ``Tenancy.read``.

    Parameters are named ``bindparam``s, passed to psycopg as they are (no SQLAlchemy bind
    or result processing: use column types psycopg converts itself). Nothing is prepared
    server-side, so it is safe behind PgBouncer in transaction mode.
    """

    sql: str
    defaults: Mapping[str, Any]

    @classmethod
    def compile(cls, statement: ClauseElement) -> ReadQuery:
        compiled = statement.compile(dialect=_DRIVER_DIALECT)
        return cls(sql=str(compiled), defaults=dict(compiled.params))

    @property
    def transaction_sql(self) -> str:
        """``BEGIN; <enter the store>; <this query>; COMMIT`` as one query string."""
        return READ_TRANSACTION_SQL % self.sql
