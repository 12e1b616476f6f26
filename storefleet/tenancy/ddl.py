"""Names, roles and row-level security of the tenant schema, as SQL.

Nothing from a request reaches these statements: schema and database names are generated
from store ids, checked against strict patterns, and quoted as identifiers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable

from psycopg import sql
from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

OWNER_ROLE = "storefleet_owner"
APP_ROLE = "storefleet_app"
STORE_SETTING = "storefleet.store_id"
POOL_SCHEMA = "pool"
DATABASE_SCHEMA = "tenant"

SCHEMA_NAME = re.compile(r"^(pool|tenant|store_[0-9a-f]{32})$")
DATABASE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

POLICY_EXPRESSION = (
    f"store_id = (SELECT NULLIF(current_setting('{STORE_SETTING}', true), '')::uuid)"
)
APP_TABLE_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"
APPEND_ONLY_PRIVILEGES = "SELECT, INSERT"
EXTENSIONS = ("pg_trgm",)


class UnsafeIdentifier(ValueError):
    pass


def store_schema_name(store_id: uuid.UUID) -> str:
    return f"store_{store_id.hex}"


def store_database_name(store_id: uuid.UUID) -> str:
    return f"store_{store_id.hex}"


def checked_schema(name: str) -> str:
    if not SCHEMA_NAME.fullmatch(name):
        raise UnsafeIdentifier(f"not a tenant schema name: {name!r}")
    return name


def checked_database(name: str) -> str:
    if not DATABASE_NAME.fullmatch(name):
        raise UnsafeIdentifier(f"not a tenant database name: {name!r}")
    return name


def ident(name: str) -> str:
    """Quote an identifier that already passed a name pattern."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise UnsafeIdentifier(f"unexpected identifier: {name!r}")
    return f'"{name}"'


def secure_table_statements(table: str, *, append_only: bool = False) -> list[str]:
    """RLS enabled and forced, the store policy, and the request role's privileges.

    Append-only tables (order history, payment transactions) give the request role no
    UPDATE or DELETE at all; only owner-level maintenance (moves, purges) removes rows.
    """
    t = ident(table)
    privileges = APPEND_ONLY_PRIVILEGES if append_only else APP_TABLE_PRIVILEGES
    return [
        f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY store_isolation ON {t} USING ({POLICY_EXPRESSION}) "
        f"WITH CHECK ({POLICY_EXPRESSION})",
        f"GRANT {privileges} ON TABLE {t} TO {APP_ROLE}",
    ]


def secure_table(op: object, table: str, *, append_only: bool = False) -> None:
    """For tenant migrations: ``secure_table(op, "products")`` after creating a table."""
    for statement in secure_table_statements(table, append_only=append_only):
        op.execute(statement)  # type: ignore[attr-defined]


def extension_statements() -> list[str]:
    """Extensions the tenant schema uses, installed in ``public`` (pg_trgm is trusted)."""
    return [f"CREATE EXTENSION IF NOT EXISTS {ext} WITH SCHEMA public" for ext in EXTENSIONS]


def role_statements(app_password: str) -> sql.Composed:
    """Create the owner and request roles if missing (roles are per server)."""
    return sql.SQL(
        """
        DO $roles$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {owner_lit}) THEN
                CREATE ROLE {owner} NOLOGIN NOBYPASSRLS;
            END IF;
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {app_lit}) THEN
                CREATE ROLE {app} LOGIN NOBYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE
                    NOINHERIT PASSWORD {password};
            ELSE
                ALTER ROLE {app} LOGIN NOBYPASSRLS NOSUPERUSER NOCREATEDB NOCREATEROLE
                    NOINHERIT PASSWORD {password};
            END IF;
        END
        $roles$;
        GRANT {owner} TO CURRENT_USER;
        """
    ).format(
        owner=sql.Identifier(OWNER_ROLE),
        owner_lit=sql.Literal(OWNER_ROLE),
        app=sql.Identifier(APP_ROLE),
        app_lit=sql.Literal(APP_ROLE),
        password=sql.Literal(app_password),
    )


def create_schema_statements(schema: str) -> list[str]:
    s = ident(checked_schema(schema))
    return [
        f"CREATE SCHEMA IF NOT EXISTS {s} AUTHORIZATION {OWNER_ROLE}",
        f"REVOKE ALL ON SCHEMA {s} FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA {s} TO {APP_ROLE}",
    ]


def head_schema_script(tables: Iterable[Table], revision: str) -> str:
    """The whole tenant schema at ``revision`` as one script, run with search_path set.

    The fast provisioning path runs this in one transaction instead of replaying history;
    a test checks that both produce the same catalog.
    """
    dialect = postgresql.dialect()
    parts: list[str] = []
    for table in tables:
        parts.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            parts.append(str(CreateIndex(index).compile(dialect=dialect)).strip())
        parts.extend(
            secure_table_statements(table.name, append_only=bool(table.info.get("append_only")))
        )
    parts.append(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    )
    if not re.fullmatch(r"[0-9a-z_]{1,32}", revision):
        raise UnsafeIdentifier(f"unexpected revision id: {revision!r}")
    parts.append(f"INSERT INTO alembic_version (version_num) VALUES ('{revision}')")  # noqa: S608
    return ";\n".join(parts) + ";"
