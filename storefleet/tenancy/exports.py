"""``stores export`` / ``stores import``: one store's rows in one file, verified on load.

The file is a zip: ``manifest.json`` plus one binary COPY stream per table. An export file
is hostile input (it may come from anyone): the manifest is validated, its tables and
columns must be exactly the tenant schema's, and the rows are loaded through the same
staging table as a move (``datacopy.Loader``), so a row of another store stops the import and
nothing is written.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Table

from storefleet import __version__
from storefleet.db.engine import database_error_text
from storefleet.errors import Conflict, InvalidInput
from storefleet.tenancy.datacopy import (
    CHUNK,
    Location,
    TableStat,
    VerificationError,
    begin_load,
    columns,
    connect,
    copy_out,
    enter,
    revision,
    store_stats_in_txn,
    table_stat,
)

EXPORT_FORMAT = "storefleet-store-export"
EXPORT_FORMAT_VERSION = 1


class ExportedTable(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    file: str
    columns: list[str]
    rows: int = Field(ge=0)
    checksum: str = Field(pattern=r"^[0-9a-f]{32}$")


class Manifest(BaseModel):
    """What ``manifest.json`` must say; extra keys (timestamps, versions) are kept as is."""

    model_config = ConfigDict(extra="allow")

    format: Literal["storefleet-store-export"]
    format_version: Literal[1]
    store_id: uuid.UUID
    tenant_revision: str
    tables: list[ExportedTable]


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
                    for table in location.tables:
                        stat = await table_stat(conn, location.schema, table, store_id)
                        name = f"tables/{table.name}.copy"
                        with zf.open(name, "w", force_zip64=True) as out:
                            async with conn.cursor().copy(
                                copy_out(location.schema, table, store_id)
                            ) as reader:
                                async for chunk in reader:
                                    out.write(chunk)
                        tables.append(
                            {"name": table.name, "file": name, "columns": columns(table)}
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


def read_manifest(path: Path, tables: Sequence[Table]) -> Manifest:
    """The validated manifest; its tables and columns are the tenant schema's, each once."""
    try:
        with zipfile.ZipFile(path) as zf:
            raw = json.loads(zf.read("manifest.json"))
            members = set(zf.namelist())
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise InvalidInput(f"not a storefleet export: {exc}", field="file") from None
    if not isinstance(raw, dict) or raw.get("format") != EXPORT_FORMAT:
        raise InvalidInput("not a storefleet export (unknown format)", field="file")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        where = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        detail = f"not a storefleet export (bad manifest: {where})"
        raise InvalidInput(detail, field="file") from None
    by_name = {t.name: t for t in tables}
    seen: set[str] = set()
    for entry in manifest.tables:
        table = by_name.get(entry.name)
        if table is None or entry.name in seen:
            what = "unknown" if table is None else "repeated"
            raise InvalidInput(f"export has an {what} table: {entry.name}", field="file")
        seen.add(entry.name)
        if entry.columns != columns(table):
            raise InvalidInput(
                f"export's table {entry.name} has other columns than the tenant schema",
                field="file",
            )
        if entry.file not in members:
            raise InvalidInput(f"export lacks the file {entry.file}", field="file")
    return manifest


async def _chunks(stream: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


async def import_store(location: Location, path: Path) -> dict[str, TableStat]:
    """Load an export into ``location``, which must hold none of the store's rows.

    Every row must be the manifest's store's; the manifest's counts and checksums are
    checked after loading, before committing.
    """
    manifest = read_manifest(path, location.tables)
    store_id = manifest.store_id
    by_name = {t.name: t for t in location.tables}
    stats: dict[str, TableStat] = {}
    async with await connect(location.admin_url) as conn:
        rev = await revision(conn, location.schema)
        if rev != manifest.tenant_revision:
            raise Conflict(
                f"the export is at tenant revision {manifest.tenant_revision}, "
                f"the store's schema at {rev}"
            )
        with zipfile.ZipFile(path) as zf:
            async with conn.transaction():
                await enter(conn, store_id)
                present = await store_stats_in_txn(conn, location, store_id)
                if any(s.rows for s in present.values()):
                    raise Conflict("the store already has data in its placement")
                loader = await begin_load(conn, location, store_id, origin="The export file")
                ordered = sorted(manifest.tables, key=lambda e: list(by_name).index(e.name))
                loaded: dict[str, int] = {}
                for entry in ordered:
                    try:
                        with zf.open(entry.file) as stream:
                            rows = await loader.load(by_name[entry.name], _chunks(stream))
                    except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
                        raise InvalidInput(
                            f"the export's table {entry.name} cannot be loaded, nothing was "
                            f"imported: {database_error_text(exc)}",
                            field="file",
                        ) from None
                    loaded[entry.name] = rows
                for entry in ordered:
                    table = by_name[entry.name]
                    got = await table_stat(conn, location.schema, table, store_id)
                    if (got.rows, got.checksum) != (entry.rows, entry.checksum) or (
                        got.rows != loaded[entry.name]
                    ):
                        raise VerificationError(
                            f"table {table.name}: export {entry.rows} rows / "
                            f"{entry.checksum}, loaded {got.rows} rows / {got.checksum}"
                        )
                    stats[table.name] = got
    return stats
