"""Both Alembic histories, replayed on an empty database, give the schema the models describe.

Alembic's autogenerate comparison (tables, columns, types, nullability, server defaults,
indexes, unique and foreign keys) is run against each migrated database and must find
nothing to change. It does not see check constraints, row-level security, policies or
grants; for the tenant schema those are compared with the models' head script, catalog row
by catalog row, in ``tests/tenancy/test_tenant_schema.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from psycopg import sql
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import URL

from storefleet.commerce.models import TenantBase
from storefleet.control.models import ControlBase
from storefleet.db.migrate import upgrade_control
from storefleet.db.urls import libpq_conninfo, with_database
from storefleet.tenancy import ddl
from storefleet.tenancy.migrations import TenantMigrator
from storefleet.testing.postgres import admin_execute, drop_database, unique_name

SCHEMA = "store_" + "d" * 32


@pytest.fixture
def empty_db(pg_server: URL) -> Iterator[URL]:
    name = unique_name("sf_models")
    admin_execute(pg_server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield with_database(pg_server, name)
    drop_database(pg_server, name)


def _diff(url: URL, metadata: MetaData, schema: str | None = None) -> list[Any]:
    engine = create_engine(url, connect_args={"prepare_threshold": None})
    try:
        with engine.connect() as conn:
            if schema:
                conn.exec_driver_sql(f"SET search_path TO {ddl.ident(schema)}, public")
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_control_history_matches_the_models(empty_db: URL) -> None:
    upgrade_control(empty_db)
    assert _diff(empty_db, ControlBase.metadata) == []
    _assert_sees_tables(empty_db, ControlBase.metadata)


def test_tenant_history_matches_the_models(empty_db: URL) -> None:
    with psycopg.connect(libpq_conninfo(empty_db), autocommit=True) as conn:
        conn.execute(ddl.role_statements("models-password"))
    engine = create_engine(empty_db, connect_args={"prepare_threshold": None})
    with engine.begin() as conn:
        for statement in ddl.create_schema_statements(SCHEMA):
            conn.exec_driver_sql(statement)
        TenantMigrator(metadata=TenantBase.metadata).upgrade(conn, SCHEMA)
    engine.dispose()
    assert _diff(empty_db, TenantBase.metadata, SCHEMA) == []
    _assert_sees_tables(empty_db, TenantBase.metadata, SCHEMA)


def _assert_sees_tables(url: URL, metadata: MetaData, schema: str | None = None) -> None:
    """The comparison looked at the migrated tables: against no models, it drops them all."""
    removed = {op[1].name for op in _diff(url, MetaData(), schema) if op[0] == "remove_table"}
    assert removed == set(metadata.tables)
