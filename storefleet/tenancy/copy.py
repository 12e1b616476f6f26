"""Copying one store's rows between tenant locations, and export files, with verification.

Every placement holds the same tables, so a store moves by copying its rows as they are:
``COPY (SELECT … WHERE store_id = X) TO STDOUT (FORMAT BINARY)`` on the source streamed into
``COPY … FROM STDIN`` on the target, table by table in foreign-key order, all in one target
transaction. Each table is then checked (row count and an md5 over the rows' text, in id
order) on both sides before the transaction commits, so a half or wrong copy never lands.

The connections are owner-level (``Tenancy.admin_url``). Managed servers give a superuser,
which bypasses row-level security; an external database may give only the tables' owner, for
whom RLS is forced: COPY FROM is refused under RLS, so there the target transaction lifts
FORCE for its own duration and puts it back before committing.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Table
from sqlalchemy.engine import URL

from storefleet import __version__
from storefleet.db.urls import libpq_conninfo
from storefleet.errors import Conflict, InvalidInput
from storefleet.tenancy import ddl

EXPORT_FORMAT = "storefleet-store-export"
EXPORT_FORMAT_VERSION = 1
CHUNK = 1 << 20

TableHook = Callable[[str], Awaitable[None]]


class VerificationError(RuntimeError):
    """The copy of a table does not match its source (count or checksum)."""


@dataclass(frozen=True)
class Location:
    """One store's tenant tables: a database (owner-level URL) and a schema in it."""

    admin_url: URL
    schema: str

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


def tenant_tables() -> list[Table]:
    from storefleet.commerce.models import TenantBase

    return list(TenantBase.metadata.sorted_tables)


def _name(name: str) -> str:
    """A table, column or role name that passed the identifier pattern."""
    ddl.ident(name)
    return name


def _columns(table: Table) -> list[str]:
    """Stored columns in model order; generated ones (search vectors) are recomputed."""
    return [_name(c.name) for c in table.columns if c.computed is None]


def _qualified(schema: str, table: str) -> sql.Identifier:
    return sql.Identifier(ddl.checked_schema(schema), _name(table))


async def connect(url: URL) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(
        libpq_conninfo(url), prepare_threshold=None, connect_timeout=10, autocommit=True
    )


async def enter(conn: psycopg.AsyncConnection[Any], store_id: uuid.UUID) -> None:
    """First statement of a transaction: the store setting and a fixed text form of values."""
    await conn.execute(
        "SELECT set_config('storefleet.store_id', %s, true), "
        "set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, MDY', true), "
        "set_config('IntervalStyle', 'postgres', true), "
        "set_config('extra_float_digits', '3', true)",
        (str(store_id),),
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
    cols = sql.SQL(", ").join(sql.Identifier("t", c) for c in _columns(table))
    query = sql.SQL(
        "SELECT count(*), md5(coalesce(string_agg(ROW({cols})::text, '|' ORDER BY t.id), '')) "
        "FROM {table} AS t WHERE t.store_id = {store}::uuid"
    ).format(cols=cols, table=_qualified(schema, table.name), store=sql.Literal(str(store_id)))
    cur = await conn.execute(query)
    row = await cur.fetchone()
    assert row is not None
    return TableStat(int(row[0]), str(row[1]))


async def store_stats(
    conn: psycopg.AsyncConnection[Any], schema: str, store_id: uuid.UUID
) -> dict[str, TableStat]:
    """Every tenant table's count and checksum for the store, in one transaction."""
    async with conn.transaction():
        await enter(conn, store_id)
        return {t.name: await table_stat(conn, schema, t, store_id) for t in tenant_tables()}


def _copy_out(schema: str, table: Table, store_id: uuid.UUID) -> sql.Composed:
    return sql.SQL(
        "COPY (SELECT {cols} FROM {table} WHERE store_id = {store}::uuid ORDER BY id) "
        "TO STDOUT (FORMAT BINARY)"
    ).format(
        cols=sql.SQL(", ").join(sql.Identifier(c) for c in _columns(table)),
        table=_qualified(schema, table.name),
        store=sql.Literal(str(store_id)),
    )


def _copy_in(schema: str, table: Table, columns: list[str] | None = None) -> sql.Composed:
    names = columns or _columns(table)
    return sql.SQL("COPY {table} ({cols}) FROM STDIN (FORMAT BINARY)").format(
        table=_qualified(schema, table.name),
        cols=sql.SQL(", ").join(sql.Identifier(_name(c)) for c in names),
    )


async def _bypasses_rls(conn: psycopg.AsyncConnection[Any]) -> bool:
    cur = await conn.execute(
        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
    )
    row = await cur.fetchone()
    return bool(row and row[0])


async def _set_force(conn: psycopg.AsyncConnection[Any], schema: str, force: bool) -> None:
    """Lift (or restore) FORCE RLS for the tables' owner, inside the caller's transaction."""
    tables = tenant_tables()
    cur = await conn.execute(
        "SELECT tableowner FROM pg_tables WHERE schemaname = %s AND tablename = %s",
        (schema, tables[0].name),
    )
    owner = await cur.fetchone()
    if owner is None:
        raise Conflict(f"the target schema {schema} has no tenant tables")
    await conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(_name(owner[0]))))
    verb = sql.SQL("FORCE" if force else "NO FORCE")
    for table in tables:
        await conn.execute(
            sql.SQL("ALTER TABLE {} {} ROW LEVEL SECURITY").format(
                _qualified(schema, table.name), verb
            )
        )


async def delete_store_rows(
    conn: psycopg.AsyncConnection[Any], schema: str, store_id: uuid.UUID
) -> int:
    """Remove the store's rows from every tenant table (reverse FK order), caller's txn.

    The store setting is in place, so under RLS only this store's rows are visible anyway.
    """
    removed = 0
    for table in reversed(tenant_tables()):
        cur = await conn.execute(
            sql.SQL("DELETE FROM {} WHERE store_id = {}::uuid").format(
                _qualified(schema, table.name), sql.Literal(str(store_id))
            )
        )
        removed += cur.rowcount
    return removed


async def clear_store(location: Location, store_id: uuid.UUID) -> int:
    """Delete the store's rows at ``location`` in one transaction (garbage or old copy)."""
    async with await connect(location.admin_url) as conn, conn.transaction():
        await enter(conn, store_id)
        return await delete_store_rows(conn, location.schema, store_id)


async def _begin_load(dst: psycopg.AsyncConnection[Any], schema: str, store_id: uuid.UUID) -> bool:
    """Open the target side: leftovers removed, RLS lifted if needed. True if lifted."""
    await enter(dst, store_id)
    lifted = not await _bypasses_rls(dst)
    if lifted:
        await _set_force(dst, schema, False)
    await delete_store_rows(dst, schema, store_id)
    return lifted


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
            lifted = await _begin_load(dst, target.schema, store_id)
            for table in tenant_tables():
                out = _copy_out(source.schema, table, store_id)
                async with (
                    src.cursor().copy(out) as reader,
                    dst.cursor().copy(_copy_in(target.schema, table)) as writer,
                ):
                    async for chunk in reader:
                        await writer.write(chunk)
                want = await table_stat(src, source.schema, table, store_id)
                got = await table_stat(dst, target.schema, table, store_id)
                if want != got:
                    raise VerificationError(
                        f"table {table.name}: source {want.rows} rows / {want.checksum}, "
                        f"copy {got.rows} rows / {got.checksum}"
                    )
                stats[table.name] = want
                if after_table is not None:
                    await after_table(table.name)
            if lifted:
                await _set_force(dst, target.schema, True)
        return rev_src, stats


# ---- export / import -----------------------------------------------------------------


async def export_store(location: Location, store_id: uuid.UUID, path: Path) -> dict[str, Any]:
    """Write the store's rows to a zip: ``manifest.json`` plus one binary COPY per table.

    One REPEATABLE READ transaction: the streams and the checksums describe one snapshot, so
    writes need not stop while exporting.
    """
    conn = await connect(location.admin_url)
    tables: list[dict[str, Any]] = []
    async with conn:
        rev = await revision(conn, location.schema)
        if rev is None:
            raise Conflict("the store's schema has no tenant revision")
        await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
        tmp = path.with_name(path.name + ".partial")
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                async with conn.transaction():
                    await enter(conn, store_id)
                    for table in tenant_tables():
                        stat = await table_stat(conn, location.schema, table, store_id)
                        name = f"tables/{table.name}.copy"
                        with zf.open(name, "w", force_zip64=True) as out:
                            async with conn.cursor().copy(
                                _copy_out(location.schema, table, store_id)
                            ) as reader:
                                async for chunk in reader:
                                    out.write(chunk)
                        tables.append(
                            {"name": table.name, "file": name, "columns": _columns(table)}
                            | stat.as_dict()
                        )
                manifest = {
                    "format": EXPORT_FORMAT,
                    "format_version": EXPORT_FORMAT_VERSION,
                    "store_id": str(store_id),
                    "tenant_revision": rev,
                    "created_at": datetime.now(UTC).isoformat(),
                    "storefleet_version": __version__,
                    "tables": tables,
                }
                zf.writestr("manifest.json", json.dumps(manifest, indent=2))
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    return manifest


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as zf:
            manifest: dict[str, Any] = json.loads(zf.read("manifest.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise InvalidInput(f"not a storefleet export: {exc}", field="file") from None
    if manifest.get("format") != EXPORT_FORMAT or manifest.get("format_version") != 1:
        raise InvalidInput("not a storefleet export (unknown format)", field="file")
    return manifest


async def import_store(location: Location, path: Path) -> dict[str, TableStat]:
    """Load an export into ``location``, which must hold none of the store's rows.

    The manifest's counts and checksums are checked after loading, before committing.
    """
    manifest = read_manifest(path)
    store_id = uuid.UUID(manifest["store_id"])
    by_name = {t.name: t for t in tenant_tables()}
    entries = manifest["tables"]
    unknown = [e["name"] for e in entries if e["name"] not in by_name]
    if unknown:
        raise InvalidInput(f"export has unknown tables: {', '.join(unknown)}", field="file")
    stats: dict[str, TableStat] = {}
    async with await connect(location.admin_url) as conn:
        rev = await revision(conn, location.schema)
        if rev != manifest["tenant_revision"]:
            raise Conflict(
                f"the export is at tenant revision {manifest['tenant_revision']}, "
                f"the store's schema at {rev}"
            )
        with zipfile.ZipFile(path) as zf:
            async with conn.transaction():
                await enter(conn, store_id)
                present = await store_stats_in_txn(conn, location.schema, store_id)
                if any(s.rows for s in present.values()):
                    raise Conflict("the store already has data in its placement")
                lifted = not await _bypasses_rls(conn)
                if lifted:
                    await _set_force(conn, location.schema, False)
                for entry in entries:
                    table = by_name[entry["name"]]
                    copy_in = _copy_in(location.schema, table, list(entry["columns"]))
                    with zf.open(entry["file"]) as stream:
                        async with conn.cursor().copy(copy_in) as writer:
                            while chunk := stream.read(CHUNK):
                                await writer.write(chunk)
                for entry in entries:
                    table = by_name[entry["name"]]
                    got = await table_stat(conn, location.schema, table, store_id)
                    if (got.rows, got.checksum) != (entry["rows"], entry["checksum"]):
                        raise VerificationError(
                            f"table {table.name}: export {entry['rows']} rows / "
                            f"{entry['checksum']}, loaded {got.rows} rows / {got.checksum}"
                        )
                    stats[table.name] = got
                if lifted:
                    await _set_force(conn, location.schema, True)
    return stats


async def store_stats_in_txn(
    conn: psycopg.AsyncConnection[Any], schema: str, store_id: uuid.UUID
) -> dict[str, TableStat]:
    return {t.name: await table_stat(conn, schema, t, store_id) for t in tenant_tables()}
