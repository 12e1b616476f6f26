"""Fleet migrations: every placement and the templates reach a new revision, store by store.

The tenant history is copied to a temporary directory with one extra additive revision
(``t9001``: a ``fleet_note`` column on ``stores``), so the real history is never touched.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.cli.main import app as cli
from storefleet.config import Settings, get_settings
from storefleet.control.placements.fleet import FleetReport, migrate_fleet
from storefleet.db.migrate import migrations_root
from storefleet.db.urls import libpq_conninfo, with_database
from storefleet.runtime import TENANT_METADATA, Runtime
from storefleet.tenancy.databases import PlatformDatabases
from storefleet.tenancy.migrations import ChangedMigrationError, TenantMigrator
from storefleet.testing import PLACEMENTS, Stores

NEW = "t9001"
REAL_HEAD = TenantMigrator(metadata=TENANT_METADATA).head


def revision_text(title: str, upgrade: str, downgrade: str, imports: str = "") -> str:
    """A tenant revision ``NEW`` on top of the real head, from the bodies of its functions."""
    return f'''"""fleet test: {title}

Revision ID: {NEW}
Revises: {REAL_HEAD}
"""

import sqlalchemy as sa
from alembic import op
{imports}
revision = "{NEW}"
down_revision = "{REAL_HEAD}"
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}

def downgrade() -> None:
{downgrade}'''


NEW_REVISION = revision_text(
    "an additive column",
    '    op.add_column("stores", sa.Column("fleet_note", sa.Text()))\n',
    '    op.drop_column("stores", "fleet_note")\n',
)


def copy_history(target: Path, revision: str = NEW_REVISION) -> Path:
    shutil.copytree(
        migrations_root() / "tenant", target, ignore=shutil.ignore_patterns("__pycache__")
    )
    (target / "versions" / f"{NEW}_add_note.py").write_text(revision)
    return target


@pytest.fixture(scope="module")
def migrator(tmp_path_factory: pytest.TempPathFactory) -> TenantMigrator:
    return TenantMigrator(
        location=copy_history(tmp_path_factory.mktemp("hist") / "tenant"), metadata=TENANT_METADATA
    )


@pytest.fixture(scope="module")
def fleet(stores: Stores) -> dict[str, list[dict[str, Any]]]:
    """Two stores in each placement, created through the API at the real head."""
    return {p: [stores.create(p), stores.create(p)] for p in PLACEMENTS}


def run_fleet(settings: Settings, control_db: URL, **kwargs: Any) -> FleetReport:
    """``migrate_fleet`` on a runtime of its own, as the CLI runs it."""

    async def go() -> FleetReport:
        runtime = Runtime.build(settings, control_db)
        await runtime.start()
        try:
            return await migrate_fleet(runtime, **kwargs)
        finally:
            await runtime.aclose()

    return anyio.run(go)


class Where:
    """Where a store's tenant tables are, read from the control plane; catalog checks there."""

    def __init__(self, pg_server: URL, control: psycopg.Connection, store_id: object) -> None:
        row = control.execute(
            "SELECT database_name, schema_name, schema_revision, last_error, status, updated_at "
            "FROM store_databases WHERE store_id = %s",
            (str(store_id),),
        ).fetchone()
        assert row is not None
        self.database, self.schema, self.revision, self.last_error, self.status = row[:5]
        self.updated_at = row[5]
        self.url = with_database(pg_server, self.database)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(libpq_conninfo(self.url), autocommit=True)

    def note_type(self) -> str | None:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = 'stores' AND column_name = 'fleet_note'",
                (self.schema,),
            ).fetchone()
        return row[0] if row else None

    def version(self) -> tuple[str, str]:
        """(version_num, xmin): xmin changes whenever the row is rewritten."""
        with self.connect() as conn:
            row = conn.execute(
                sql.SQL("SELECT version_num, xmin::text FROM {}.alembic_version").format(
                    sql.Identifier(self.schema)
                )
            ).fetchone()
        assert row is not None
        return row[0], row[1]


def all_ids(fleet: dict[str, list[dict[str, Any]]]) -> list[str]:
    return [str(s["id"]) for group in fleet.values() for s in group]


@pytest.fixture
def runner(
    settings: Settings, control_db: URL, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """The CLI with the module's control database and key material (same home)."""
    monkeypatch.setenv("STOREFLEET_HOME", str(settings.home))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    monkeypatch.setenv("STOREFLEET_ARGON2_MEMORY_COST", "1024")
    monkeypatch.setenv("STOREFLEET_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("STOREFLEET_ARGON2_PARALLELISM", "1")
    monkeypatch.setenv("COLUMNS", "240")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def template_url(pg_server: URL, control_db: URL) -> URL:
    assert control_db.database
    return with_database(pg_server, PlatformDatabases.for_control(control_db.database).template)


def test_dry_run_failure_rerun_and_noop(
    fleet: dict[str, list[dict[str, Any]]],
    migrator: TenantMigrator,
    settings: Settings,
    control_db: URL,
    pg_server: URL,
    control_conn: psycopg.Connection,
    runner: CliRunner,
) -> None:
    ids = all_ids(fleet)

    # Dry run: reports every unit as behind, changes nothing.
    dry = run_fleet(settings, control_db, migrator=migrator, dry_run=True)
    kinds = sorted(r.unit.kind for r in dry.would_migrate)
    assert kinds == ["database", "database", "pool", "schema", "schema", "template"]
    assert not dry.migrated and not dry.failed
    for store_id in ids:
        where = Where(pg_server, control_conn, store_id)
        assert where.note_type() is None
        assert where.version()[0] == where.revision == REAL_HEAD
    assert control_conn.execute("SELECT count(*) FROM tenant_migration_files").fetchone() == (0,)

    # One schema store already has a conflicting column: its upgrade fails and rolls back.
    broken_id = str(fleet["schema"][0]["id"])
    broken = Where(pg_server, control_conn, broken_id)
    with broken.connect() as conn:
        conn.execute(
            sql.SQL("ALTER TABLE {}.stores ADD COLUMN fleet_note integer").format(
                sql.Identifier(broken.schema)
            )
        )
    history = str(migrator.location)
    result = runner.invoke(cli, ["tenants", "migrate", "--migrations", history])
    assert result.exit_code == 1, result.output
    assert broken_id in result.output
    assert "DuplicateColumn" in result.output

    for store_id in ids:
        where = Where(pg_server, control_conn, store_id)
        assert where.status == "ready"
        if store_id == broken_id:
            assert where.revision == REAL_HEAD and where.version()[0] == REAL_HEAD
            assert where.last_error is not None and "DuplicateColumn" in where.last_error
            assert where.note_type() == "integer"
        else:
            assert where.revision == NEW and where.version()[0] == NEW, store_id
            assert where.last_error is None
            assert where.note_type() == "text"
    with psycopg.connect(libpq_conninfo(template_url(pg_server, control_db))) as conn:
        assert conn.execute("SELECT version_num FROM tenant.alembic_version").fetchone() == (NEW,)
    recorded = dict(control_conn.execute("SELECT revision, checksum FROM tenant_migration_files"))
    # every revision of the history is now applied somewhere, so every file is checksummed
    assert recorded == migrator.checksums()

    # Fix the store and rerun: only that store is migrated.
    with broken.connect() as conn:
        conn.execute(
            sql.SQL("ALTER TABLE {}.stores DROP COLUMN fleet_note").format(
                sql.Identifier(broken.schema)
            )
        )
    second = run_fleet(settings, control_db, migrator=migrator)
    assert [r.unit.store_ids for r in second.migrated] == [(uuid.UUID(broken_id),)]
    assert not second.failed
    assert second.stores_updated == 1
    fixed = Where(pg_server, control_conn, broken_id)
    assert (fixed.revision, fixed.last_error, fixed.note_type()) == (NEW, None, "text")

    # Nothing left to do: no DDL, no version rows rewritten, no control-plane writes.
    before = {i: Where(pg_server, control_conn, i) for i in ids}
    versions = {i: w.version() for i, w in before.items()}
    third = run_fleet(settings, control_db, migrator=migrator, concurrency=2)
    assert not third.migrated and not third.failed
    assert len(third.current) == 6  # pool, 2 schema, 2 database, template
    assert third.stores_updated == 0 and third.recorded_checksums == []
    for store_id, where in before.items():
        assert Where(pg_server, control_conn, store_id).updated_at == where.updated_at
        assert where.version() == versions[store_id]


def test_filters_select_units(
    fleet: dict[str, list[dict[str, Any]]],
    migrator: TenantMigrator,
    settings: Settings,
    control_db: URL,
) -> None:
    only_schema = run_fleet(
        settings, control_db, migrator=migrator, dry_run=True, placements=["schema"]
    )
    assert sorted(r.unit.kind for r in only_schema.results) == ["schema", "schema"]
    pool_ids = {uuid.UUID(str(s["id"])) for s in fleet["pool"]}
    one_pool = run_fleet(
        settings,
        control_db,
        migrator=migrator,
        dry_run=True,
        store_ids=[next(iter(pool_ids))],
    )
    # The pool schema is shared: selecting one pool store selects the whole pool unit.
    assert [r.unit.kind for r in one_pool.results] == ["pool"]
    assert pool_ids <= set(one_pool.results[0].unit.store_ids)


def test_new_database_store_starts_at_new_head(
    fleet: dict[str, list[dict[str, Any]]],
    migrator: TenantMigrator,
    settings: Settings,
    control_db: URL,
    pg_server: URL,
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
) -> None:
    run_fleet(settings, control_db, migrator=migrator)
    with psycopg.connect(libpq_conninfo(template_url(pg_server, control_db))) as conn:
        assert conn.execute("SELECT version_num FROM tenant.alembic_version").fetchone() == (NEW,)
    provisioner = client.app.state.runtime.provisioner  # type: ignore[attr-defined]
    original = provisioner.migrator
    provisioner.migrator = migrator
    try:
        store = stores.create("database")
    finally:
        provisioner.migrator = original
    where = Where(pg_server, control_conn, store["id"])
    assert where.revision == NEW
    assert where.version()[0] == NEW
    assert where.note_type() == "text"


def test_changed_migration_file_is_refused(
    fleet: dict[str, list[dict[str, Any]]],
    migrator: TenantMigrator,
    settings: Settings,
    control_db: URL,
    control_conn: psycopg.Connection,
    tmp_path: Path,
    runner: CliRunner,
) -> None:
    run_fleet(settings, control_db, migrator=migrator)
    assert control_conn.execute(
        "SELECT 1 FROM tenant_migration_files WHERE revision = %s", (NEW,)
    ).fetchone()
    edited = copy_history(
        tmp_path / "tenant",
        NEW_REVISION.replace("sa.Text()))", "sa.Text(), nullable=True))  # edited later"),
    )
    with pytest.raises(ChangedMigrationError, match=NEW):
        run_fleet(
            settings, control_db, migrator=TenantMigrator(location=edited, metadata=TENANT_METADATA)
        )
    result = runner.invoke(cli, ["tenants", "migrate", "--migrations", str(edited)])
    assert result.exit_code == 2, result.output
    assert "refused" in result.output and NEW in result.output


def test_unknown_target_revision_is_an_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["tenants", "migrate", "--to", "t9999"])
    assert result.exit_code == 1, result.output
    assert "unknown tenant revision" in result.output


def test_a_schema_without_version_table_fails_alone(
    fleet: dict[str, list[dict[str, Any]]],
    stores: Stores,
    migrator: TenantMigrator,
    settings: Settings,
    control_db: URL,
    pg_server: URL,
    control_conn: psycopg.Connection,
) -> None:
    """The one-statement revision read bets that every version table exists; a schema
    whose table is gone must still be reported alone, its neighbours read correctly."""
    lost = stores.create("schema")
    where = Where(pg_server, control_conn, lost["id"])
    with where.connect() as conn:
        conn.execute(sql.SQL("DROP TABLE {}.alembic_version").format(sql.Identifier(where.schema)))
    report = run_fleet(settings, control_db, migrator=migrator, placements=["schema"])
    failed = {r.unit.store_ids: r.error for r in report.failed}
    assert failed == {(uuid.UUID(str(lost["id"])),): "schema has no alembic_version table"}
    others = {s for r in report.results if r.outcome != "failed" for s in r.unit.store_ids}
    assert {uuid.UUID(str(s["id"])) for s in fleet["schema"]} <= others
    for store in fleet["schema"]:
        assert Where(pg_server, control_conn, store["id"]).version()[0] == NEW
