"""The fast path (head script) and the history (Alembic replay) build the same schema."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import URL

from storefleet.db.urls import libpq_conninfo
from storefleet.runtime import TENANT_METADATA
from storefleet.tenancy import ddl
from storefleet.tenancy.migrations import ChangedMigrationError, TenantMigrator, record_checksums
from storefleet.testing import admin_execute, drop_database, unique_name

CATALOG_QUERIES = {
    "columns": """
        SELECT table_name, column_name, data_type, is_nullable, column_default, ordinal_position
        FROM information_schema.columns WHERE table_schema = %(s)s ORDER BY 1, 6""",
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE connamespace = %(s)s::regnamespace ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, replace(indexdef, %(s)s || '.', '')
        FROM pg_indexes WHERE schemaname = %(s)s ORDER BY 1, 2""",
    "policies": """
        SELECT tablename, policyname, cmd, roles::text, qual, with_check
        FROM pg_policies WHERE schemaname = %(s)s ORDER BY 1, 2""",
    "rls": """
        SELECT relname, relrowsecurity, relforcerowsecurity, pg_get_userbyid(relowner)
        FROM pg_class WHERE relnamespace = %(s)s::regnamespace AND relkind IN ('r', 'i')
        ORDER BY 1""",
    "grants": """
        SELECT table_name, grantee, privilege_type FROM information_schema.table_privileges
        WHERE table_schema = %(s)s ORDER BY 1, 2, 3""",
    "version": "SELECT 1",
}


@pytest.fixture(scope="module")
def scratch(pg_server: URL) -> URL:
    name = unique_name("sf_scratch")
    from psycopg import sql

    admin_execute(pg_server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(libpq_conninfo(pg_server), autocommit=True) as conn:
        conn.execute(ddl.role_statements("scratch-password"))
    yield pg_server.set(database=name)
    drop_database(pg_server, name)


def _catalog(url: URL, schema: str) -> dict[str, list[tuple]]:
    with psycopg.connect(libpq_conninfo(url)) as conn:
        out = {}
        for key, query in CATALOG_QUERIES.items():
            rows = conn.execute(query, {"s": schema}).fetchall()
            out[key] = [tuple(str(v).replace(schema + ".", "") for v in row) for row in rows]
        out["version"] = conn.execute(
            f'SELECT version_num FROM "{schema}".alembic_version'
        ).fetchall()
        return out


def test_head_script_equals_history(scratch: URL) -> None:
    migrator = TenantMigrator(metadata=TENANT_METADATA)
    engine = create_engine(scratch, connect_args={"prepare_threshold": None})
    fast, replay = "store_" + "a" * 32, "store_" + "b" * 32
    with engine.begin() as conn:
        for stmt in ddl.create_schema_statements(fast) + ddl.create_schema_statements(replay):
            conn.exec_driver_sql(stmt)
    with engine.begin() as conn:
        migrator.create_head(conn, fast)
    with engine.begin() as conn:
        assert migrator.upgrade(conn, replay) == (None, migrator.head)
    with engine.begin() as conn:
        assert migrator.current_revisions(conn, [fast, replay, "store_" + "c" * 32]) == {
            fast: migrator.head,
            replay: migrator.head,
            "store_" + "c" * 32: None,
        }
    engine.dispose()
    # The driver-connection path (fleet runs): one statement when every table exists, the
    # catalog first when one is missing, the same answer either way.
    with psycopg.connect(libpq_conninfo(scratch), autocommit=True) as raw:
        assert migrator.current_revisions(raw, [fast, replay]) == {
            fast: migrator.head,
            replay: migrator.head,
        }
        assert migrator.current_revisions(raw, [fast, "store_" + "c" * 32, replay]) == {
            fast: migrator.head,
            replay: migrator.head,
            "store_" + "c" * 32: None,
        }
    a, b = _catalog(scratch, fast), _catalog(scratch, replay)
    for key in CATALOG_QUERIES:
        assert a[key] == b[key], key
    assert a["policies"], "expected row-level security policies"
    assert a["version"] == [(migrator.head,)]


def test_changed_migration_file_is_refused() -> None:
    current = TenantMigrator(metadata=TENANT_METADATA).checksums()
    head = next(iter(current))
    assert record_checksums({}, current, [head]) == {head: current[head]}
    assert record_checksums({head: current[head]}, current, [head]) == {}
    with pytest.raises(ChangedMigrationError):
        record_checksums({head: "0" * 64}, current, [head])


def test_unsafe_names_never_reach_sql() -> None:
    for bad in ("public", "store_x", 'store_"; drop', "STORE_" + "a" * 32, "pg_catalog"):
        with pytest.raises(ddl.UnsafeIdentifier):
            ddl.checked_schema(bad)
    with pytest.raises(ddl.UnsafeIdentifier):
        ddl.ident('a"b')
    with pytest.raises(ddl.UnsafeIdentifier):
        ddl.checked_database("Robert'); DROP")
