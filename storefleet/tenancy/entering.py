"""The first statement of every tenant transaction: entering one store for it only.

``set_config(..., true)`` sets ``search_path``, ``storefleet.store_id`` and the
transaction's timeouts until it ends, so nothing leaks to the next user of the connection,
even behind PgBouncer in transaction mode. A write transaction also takes the store's move
lock shared; a move holds it exclusively while it copies the store.
"""

from __future__ import annotations

from sqlalchemy import text

from storefleet.db.locks import Seed

# Schema-qualified: in a database its owner brings, nothing planted in ``public`` can stand
# in for these functions.
_ENTER = (
    "SELECT pg_catalog.set_config('search_path', {schema}, true), "
    "pg_catalog.set_config('storefleet.store_id', {store_id}, true), "
    "pg_catalog.set_config('statement_timeout', {statement_timeout}, true), "
    "pg_catalog.set_config('lock_timeout', {lock_timeout}, true)"
)
_BIND = {
    "schema": ":schema",
    "store_id": ":store_id",
    "statement_timeout": ":statement_timeout",
    "lock_timeout": ":lock_timeout",
}
ENTER_STORE = text(
    _ENTER.format(**_BIND) + ", pg_catalog.set_config('transaction_read_only', 'on', true)"
)
ENTER_STORE_FOR_WRITE = text(
    _ENTER.format(**_BIND)
    + ", pg_catalog.pg_try_advisory_xact_lock_shared("
    + Seed.STORE_WRITES.qualified_sql(":store_id")
    + ")"
)
# ``Tenancy.read``'s transaction around a ReadQuery, sent as one simple-protocol string. The
# parameter names cannot collide with a query's own (bindparam names are identifiers).
READ_TRANSACTION_SQL = (
    "BEGIN READ ONLY; "
    + _ENTER.format(
        schema="%%(_sf_enter_schema)s",
        store_id="%%(_sf_enter_store_id)s",
        statement_timeout="%%(_sf_statement_timeout)s",
        lock_timeout="%%(_sf_lock_timeout)s",
    )
    + "; %s; COMMIT"
)
