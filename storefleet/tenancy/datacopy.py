"""Copying one store's rows between tenant locations, with verification.

Every placement holds the same tables, so a store moves by copying its rows as they are:
``COPY (SELECT … WHERE store_id = X) TO STDOUT (FORMAT BINARY)`` on the source streamed into
the target, table by table in foreign-key order, all in one target transaction. Each table
is then checked (row count and an md5 over the rows' text, in id order) on both sides before
the transaction commits, so a half or wrong copy never lands.

The source may be a database its owner controls, and whatever it sends is only a claim: the
stream lands in a temporary staging table (temporary tables have no RLS and no locks anyone
else wants), a row whose ``store_id`` is not the moving store's stops the load with
``ForeignRows``, and only then ``INSERT … SELECT`` puts the rows into the target table, run
as the tables' owner, for whom RLS is forced, with the store setting in place: the policy's
WITH CHECK is a second wall. Nothing alters the target tables, so loading into the pool
locks no other store out (``ROW EXCLUSIVE`` on the tables, as any write).

Every statement sent through ``connect()`` names its tables by schema and its functions,
types and operators in ``pg_catalog`` (``OPERATOR(pg_catalog.=)``), and each transaction
pins ``search_path`` to ``pg_catalog, pg_temp`` first thing: objects planted in an owner's
database cannot change what our SQL means.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import Buffer
from sqlalchemy import Table
from sqlalchemy.engine import URL

from storefleet.db.urls import libpq_conninfo
from storefleet.errors import Conflict
from storefleet.tenancy import ddl

SAFE_SEARCH_PATH = "pg_catalog, pg_temp"
STAGE_PREFIX = "sf_load_"
# A binary COPY stream of no rows: signature, flags, header extension length, trailer.
EMPTY_BINARY_COPY = b"PGCOPY\n\xff\r\n\x00" + bytes(8) + b"\xff\xff"
CHUNK = 1 << 20

TableHook = Callable[[str], Awaitable[None]]


class VerificationError(RuntimeError):
    """The copy of a table does not match its source (count or checksum)."""


class ForeignRows(Conflict):
    """A source delivered rows whose ``store_id`` is not the store being loaded."""


@dataclass(frozen=True)
class Location:
    """One store's tenant tables: a database (owner-level URL), a schema in it, and the
    tenant tables (in foreign-key order) handed to tenancy when the app was assembled."""

    admin_url: URL
    schema: str
    tables: tuple[Table, ...]

    def same_as(self, other: Location) -> bool:
        a, b = self.admin_url, other.admin_url
        return (a.host, a.port or 5432, a.database, self.schema) == (
            b.host,
            b.port or 5432,
            b.database,
            other.schema,
        )


@dataclass(frozen=True)
class TableStat:
    rows: int
    checksum: str

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "checksum": self.checksum}


def _name(name: str) -> str:
    """A table, column or role name that passed the identifier pattern."""
    ddl.ident(name)
    return name


def columns(table: Table) -> list[str]:
    """Stored columns in model order; generated ones (search vectors) are recomputed."""
    return [_name(c.name) for c in table.columns if c.computed is None]


def _column_list(table: Table, alias: str | None = None) -> sql.Composable:
    names = columns(table)
    if alias is None:
        return sql.SQL(", ").join(sql.Identifier(c) for c in names)
    return sql.SQL(", ").join(sql.Identifier(alias, c) for c in names)


def _qualified(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(ddl.checked_schema(schema), _name(table))


def _store(store_id: uuid.UUID) -> sql.Composable:
    return sql.SQL("{}::pg_catalog.uuid").format(sql.Literal(str(store_id)))


async def connect(url: URL) -> psycopg.AsyncConnection[Any]:
    """The one place copy, move and import connections are opened.

    An owner's database arrives with its limits in the URL (``storefleet.db.foreign``: a
    move's long statement timeout, pinned addresses); our own servers get a connect
    timeout here.
    """
    if "connect_timeout" not in url.query:
        url = url.update_query_dict({"connect_timeout": "10"})
    return await psycopg.AsyncConnection.connect(
        libpq_conninfo(url), prepare_threshold=None, autocommit=True
    )


async def enter(conn: psycopg.AsyncConnection[Any], store_id: uuid.UUID) -> None:
    """First statement of a transaction: a safe search_path, the store, fixed value formats.

    Transaction-local (``set_config(…, true)``), so nothing is left on a connection an
    owner's pooler hands to its next client.
    """
    await conn.execute(
        "SELECT pg_catalog.set_config('search_path', %s, true), "
        "pg_catalog.set_config('row_security', 'on', true), "
        "pg_catalog.set_config('storefleet.store_id', %s, true), "
        "pg_catalog.set_config('TimeZone', 'UTC', true), "
        "pg_catalog.set_config('DateStyle', 'ISO, MDY', true), "
        "pg_catalog.set_config('IntervalStyle', 'postgres', true), "
        "pg_catalog.set_config('extra_float_digits', '3', true)",
        (SAFE_SEARCH_PATH, str(store_id)),
    )


async def revision(conn: psycopg.AsyncConnection[Any], schema: str) -> str | None:
    try:
        async with conn.transaction():
            cur = await conn.execute(
                sql.SQL("SELECT version_num FROM {}.alembic_version").format(
                    sql.Identifier(ddl.checked_schema(schema))
                )
            )
            row = await cur.fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return str(row[0]) if row else None


async def table_stat(
    conn: psycopg.AsyncConnection[Any], schema: str, table: Table, store_id: uuid.UUID
) -> TableStat:
    """Row count and md5 of the store's rows in ``table``, columns in model order."""
    query = sql.SQL(
        "SELECT pg_catalog.count(*), pg_catalog.md5(COALESCE(pg_catalog.string_agg("
        "ROW({cols})::pg_catalog.text, '|' ORDER BY t.id USING OPERATOR(pg_catalog.<)), '')) "
        "FROM {table} AS t WHERE t.store_id OPERATOR(pg_catalog.=) {store}"
    ).format(
        cols=_column_list(table, "t"),
        table=_qualified(schema, table.name),
        store=_store(store_id),
    )
    cur = await conn.execute(query)
    row = await cur.fetchone()
    assert row is not None
    return TableStat(int(row[0]), str(row[1]))


async def store_stats(
    conn: psycopg.AsyncConnection[Any], location: Location, store_id: uuid.UUID
) -> dict[str, TableStat]:
    """Every tenant table's count and checksum for the store, in one transaction."""
    async with conn.transaction():
        await enter(conn, store_id)
        return await store_stats_in_txn(conn, location, store_id)


async def store_stats_in_txn(
    conn: psycopg.AsyncConnection[Any], location: Location, store_id: uuid.UUID
) -> dict[str, TableStat]:
    schema = location.schema
    return {t.name: await table_stat(conn, schema, t, store_id) for t in location.tables}


def copy_out(schema: str, table: Table, store_id: uuid.UUID) -> sql.Composed:
    return sql.SQL(
        "COPY (SELECT {cols} FROM {table} WHERE store_id OPERATOR(pg_catalog.=) {store} "
        "ORDER BY id USING OPERATOR(pg_catalog.<)) TO STDOUT (FORMAT BINARY)"
    ).format(
        cols=_column_list(table),
        table=_qualified(schema, table.name),
        store=_store(store_id),
    )


async def delete_store_rows(
    conn: psycopg.AsyncConnection[Any], location: Location, store_id: uuid.UUID
) -> int:
    """Remove the store's rows from every tenant table (reverse FK order), caller's txn.

    The store setting is in place, so under RLS only this store's rows are visible anyway.
    """
    removed = 0
    for table in reversed(location.tables):
        cur = await conn.execute(
            sql.SQL("DELETE FROM {} WHERE store_id OPERATOR(pg_catalog.=) {}").format(
                _qualified(location.schema, table.name), _store(store_id)
            )
        )
        removed += cur.rowcount
    return removed


async def clear_store(location: Location, store_id: uuid.UUID) -> int:
    """Delete the store's rows at ``location`` in one transaction (garbage or old copy)."""
    async with await connect(location.admin_url) as conn, conn.transaction():
        await enter(conn, store_id)
        return await delete_store_rows(conn, location, store_id)


# ---- loading through a staging table ---------------------------------------------------


@dataclass(frozen=True)
class Loader:
    """The target side of a load, inside the caller's transaction on ``conn``.

    ``origin`` names where the rows come from in error messages ("the source database",
    "the export file"); ``owner`` is the tables' owner, whom the rows are inserted as.
    """

    conn: psycopg.AsyncConnection[Any]
    schema: str
    store_id: uuid.UUID
    owner: str
    origin: str

    async def load(self, table: Table, chunks: AsyncIterator[Buffer]) -> int:
        """Stage a binary COPY stream, refuse other stores' rows, insert; rows loaded.

        A stream of no rows (most tables of most stores) costs no staging table.
        """
        first: list[Buffer] = []
        size = 0
        async for chunk in chunks:
            first.append(chunk)
            size += len(chunk)
            if size > len(EMPTY_BINARY_COPY):
                break
        else:
            if b"".join(first) == EMPTY_BINARY_COPY:
                return 0
        stage = sql.Identifier("pg_temp", STAGE_PREFIX + table.name)
        target = _qualified(self.schema, table.name)
        cols = _column_list(table)
        owner = sql.Identifier(self.owner)
        await self.conn.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS "
                "SELECT {cols} FROM {target} WITH NO DATA; GRANT SELECT ON {stage} TO {owner}"
            ).format(stage=stage, cols=cols, target=target, owner=owner)
        )
        copy_in = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(stage, cols)
        async with self.conn.cursor().copy(copy_in) as writer:
            for chunk in first:
                await writer.write(chunk)
            async for chunk in chunks:
                await writer.write(chunk)
        cur = await self.conn.execute(
            sql.SQL(
                "SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE store_id IS NULL "
                "OR store_id OPERATOR(pg_catalog.<>) {store}) FROM {stage}"
            ).format(store=_store(self.store_id), stage=stage)
        )
        row = await cur.fetchone()
        assert row is not None
        staged, foreign = int(row[0]), int(row[1])
        if foreign:
            raise ForeignRows(
                f"{self.origin} delivered {foreign} row(s) of table {table.name} whose "
                f"store_id is not this store's ({self.store_id}); nothing was written"
            )
        insert = sql.SQL(
            "SET LOCAL ROLE {owner}; INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage}; "
            "RESET ROLE; "
        ).format(owner=owner, target=target, cols=cols, stage=stage)
        drop = sql.SQL("DROP TABLE {}").format(stage)
        await self.conn.execute(sql.Composed([insert, drop]) if staged else drop)
        return staged


async def begin_load(
    conn: psycopg.AsyncConnection[Any], location: Location, store_id: uuid.UUID, *, origin: str
) -> Loader:
    """Open the target side in the caller's transaction: store entered, leftovers removed."""
    schema = location.schema
    await enter(conn, store_id)
    cur = await conn.execute(
        "SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c "
        "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
        "WHERE n.nspname OPERATOR(pg_catalog.=) %s::pg_catalog.name "
        "AND c.relname OPERATOR(pg_catalog.=) 'stores'::pg_catalog.name",
        (ddl.checked_schema(schema),),
    )
    found = await cur.fetchone()
    if found is None:
        raise Conflict(f"the target schema {schema} has no tenant tables")
    await delete_store_rows(conn, location, store_id)
    return Loader(conn, schema, store_id, str(found[0]), origin)


async def _stream(reader: psycopg.AsyncCopy) -> AsyncIterator[Buffer]:
    async for chunk in reader:
        yield chunk


async def copy_store(
    source: Location,
    target: Location,
    store_id: uuid.UUID,
    *,
    after_table: TableHook | None = None,
) -> tuple[str, dict[str, TableStat]]:
    """Copy and verify every table; returns (revision, stats). Nothing lands on failure."""
    if source.same_as(target):
        raise Conflict("the source and the target are the same place")
    async with await connect(source.admin_url) as src, await connect(target.admin_url) as dst:
        rev_src = await revision(src, source.schema)
        rev_dst = await revision(dst, target.schema)
        if rev_src is None or rev_src != rev_dst:
            raise Conflict(
                f"tenant revisions differ (source {rev_src}, target {rev_dst}); "
                "upgrade both to the same revision first"
            )
        stats: dict[str, TableStat] = {}
        async with src.transaction(), dst.transaction():
            await enter(src, store_id)
            loader = await begin_load(dst, target, store_id, origin="The source database")
            for table in target.tables:
                out = copy_out(source.schema, table, store_id)
                async with src.cursor().copy(out) as reader:
                    loaded = await loader.load(table, _stream(reader))
                want = await table_stat(src, source.schema, table, store_id)
                got = await table_stat(dst, target.schema, table, store_id)
                if want != got or got.rows != loaded:
                    raise VerificationError(
                        f"table {table.name}: source {want.rows} rows / {want.checksum}, "
                        f"copy {got.rows} rows / {got.checksum}"
                    )
                stats[table.name] = want
                if after_table is not None:
                    await after_table(table.name)
        return rev_src, stats
