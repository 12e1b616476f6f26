"""Names, roles and row-level security of the tenant schema, as SQL.

Nothing from a request reaches these statements: schema and database names are generated
from store ids, checked against strict patterns, and quoted as identifiers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from sqlalchemy import UUID as SQLUUID
from sqlalchemy import Column, DateTime, Table, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

OWNER_ROLE = "storefleet_owner"
APP_ROLE = "storefleet_app"
STORE_SETTING = "storefleet.store_id"
POOL_SCHEMA = "pool"
DATABASE_SCHEMA = "tenant"

SCHEMA_NAME = re.compile(r"^(pool|tenant|store_[0-9a-f]{32})$")
EXTERNAL_APP_ROLE = re.compile(r"^storefleet_app_[0-9a-f]{32}$")
OWNER_ISOLATION = "owner_role"
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


def external_app_role(store_id: uuid.UUID) -> str:
    """The request role of one store in a database its owner brings.

    Each such store logs in as a role of its own: two stores on the same external server
    (or an external database on one of our own servers) never share, or re-set, a password,
    and the role holds privileges on that one database's tables only.
    """
    return f"storefleet_app_{store_id.hex}"


def external_roles(app_role: str | None) -> TenantRoles:
    """The roles of a database a store owner brings (``app_role`` None: owner-role)."""
    if app_role is None:
        return OWNER_ONLY
    if app_role != APP_ROLE and not EXTERNAL_APP_ROLE.fullmatch(app_role):
        raise UnsafeIdentifier(f"not a store request role: {app_role!r}")
    return TenantRoles(OWNER_ROLE, app_role)


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


@dataclass(frozen=True)
class TenantRoles:
    """Who owns a tenant schema's tables and who its request role is.

    Managed servers: ``storefleet_owner`` / ``storefleet_app``. A database its owner brings
    with a role-creating user: ``storefleet_owner`` / the store's own request role. One whose
    user cannot create roles (``owner_role`` isolation): neither; that user owns the tables
    and requests run as it, so nothing is entered and nothing is granted.
    """

    owner: str | None
    app: str | None

    def __post_init__(self) -> None:
        for name in (self.owner, self.app):
            if name is not None:
                ident(name)


MANAGED_ROLES = TenantRoles(OWNER_ROLE, APP_ROLE)
OWNER_ONLY = TenantRoles(None, None)


def secure_table_statements(
    table: str, *, append_only: bool = False, app_role: str | None = APP_ROLE
) -> list[str]:
    """RLS enabled and forced, the store policy, and the request role's privileges.

    Append-only tables (order history, payment transactions) give the request role no
    UPDATE or DELETE at all; only owner-level maintenance (moves, purges) removes rows.
    ``app_role=None`` (owner-role databases) grants nothing.
    """
    t = ident(table)
    statements = [
        f"ALTER TABLE {t} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {t} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY store_isolation ON {t} USING ({POLICY_EXPRESSION}) "
        f"WITH CHECK ({POLICY_EXPRESSION})",
    ]
    if app_role is not None:
        statements.append(_grant_statement(t, app_role, append_only=append_only))
    return statements


def _grant_statement(table_sql: str, app_role: str, *, append_only: bool) -> str:
    privileges = APPEND_ONLY_PRIVILEGES if append_only else APP_TABLE_PRIVILEGES
    return f"GRANT {privileges} ON TABLE {table_sql} TO {ident(app_role)}"


def app_grant_statements(schema: str, app_role: str, tables: Iterable[Table]) -> list[str]:
    """The request role's privileges on every tenant table of ``schema`` (idempotent)."""
    s = ident(checked_schema(schema))
    return [f"GRANT USAGE ON SCHEMA {s} TO {ident(app_role)}"] + [
        _grant_statement(
            f"{s}.{ident(table.name)}", app_role, append_only=bool(table.info.get("append_only"))
        )
        for table in tables
    ]


APP_ROLE_OPTION = "storefleet_app_role"


def secure_table(op: object, table: str, *, append_only: bool = False) -> None:
    """For tenant migrations: ``secure_table(op, "products")`` after creating a table.

    The migrator tells the migration context which request role to grant to (none in an
    owner-role database) as the ``storefleet_app_role`` option.
    """
    opts = op.get_context().opts  # type: ignore[attr-defined]
    app_role = opts.get(APP_ROLE_OPTION, APP_ROLE)
    for statement in secure_table_statements(table, append_only=append_only, app_role=app_role):
        op.execute(statement)  # type: ignore[attr-defined]


def extension_statements() -> list[str]:
    """Extensions the tenant schema uses, installed in ``public`` (pg_trgm is trusted)."""
    return [f"CREATE EXTENSION IF NOT EXISTS {ext} WITH SCHEMA public" for ext in EXTENSIONS]


def role_statements(app_password: str, app_role: str = APP_ROLE) -> sql.Composed:
    """Create the owner and request roles if missing (roles are per server).

    ``app_role`` is ``storefleet_app`` on managed servers, or a store's own request role in
    a database its owner brings: that store's password is set and nobody else's is touched
    (the server may be one of ours, whose ``storefleet_app`` serves other stores).
    """
    if app_role != APP_ROLE and not EXTERNAL_APP_ROLE.fullmatch(app_role):
        raise UnsafeIdentifier(f"not a store request role: {app_role!r}")
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
        app=sql.Identifier(app_role),
        app_lit=sql.Literal(app_role),
        password=sql.Literal(app_password),
    )


def create_schema_statements(schema: str, roles: TenantRoles = MANAGED_ROLES) -> list[str]:
    s = ident(checked_schema(schema))
    owner = f" AUTHORIZATION {ident(roles.owner)}" if roles.owner else ""
    statements = [
        f"CREATE SCHEMA IF NOT EXISTS {s}{owner}",
        f"REVOKE ALL ON SCHEMA {s} FROM PUBLIC",
    ]
    if roles.app:
        statements.append(f"GRANT USAGE ON SCHEMA {s} TO {ident(roles.app)}")
    return statements


def head_schema_script(
    tables: Iterable[Table], revision: str, *, app_role: str | None = APP_ROLE
) -> str:
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
            secure_table_statements(
                table.name, append_only=bool(table.info.get("append_only")), app_role=app_role
            )
        )
    parts.append(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
        "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
    )
    if not re.fullmatch(r"[0-9a-z_]{1,32}", revision):
        raise UnsafeIdentifier(f"unexpected revision id: {revision!r}")
    parts.append(f"INSERT INTO alembic_version (version_num) VALUES ('{revision}')")  # noqa: S608
    return ";\n".join(parts) + ";"


def tenant_columns() -> list[Column[Any]]:
    """The columns every tenant table ends with (``TenantTable``), in the models' order, for
    the tenant migrations' ``create_table``."""
    now = text("now()")
    return [
        Column("store_id", SQLUUID(), nullable=False),
        Column("id", SQLUUID(), nullable=False),
        Column("created_at", DateTime(timezone=True), server_default=now, nullable=False),
        Column("updated_at", DateTime(timezone=True), server_default=now, nullable=False),
    ]
