"""Preparing servers and store containers: roles, shared databases, template, schemas.

Done once per server per process (under a lock): roles, the shared tenants database with
its grants, the template database kept at the tenant head, the pool schema at head. Per
store: its database (``CREATE DATABASE … TEMPLATE`` on a kept-open admin connection) or
its schema at head, and the seed rows in as few transactions as possible. Every step is
idempotent, so a retry completes what a crash left half done.
"""

from __future__ import annotations

import threading
import uuid
from typing import Protocol

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import URL

from storefleet.db.locks import Key
from storefleet.db.urls import libpq_conninfo
from storefleet.tenancy import ddl
from storefleet.tenancy.databases import (
    AdminEngines,
    PlatformDatabases,
    ServerConnections,
    absorb_races,
    create_database_on,
    driver_connection,
    ensure_database,
    prepare_database_access,
)
from storefleet.tenancy.migrations import TenantMigrator
from storefleet.tenancy.seed import Seed, SeedSteps, seed_new_database, seed_rows
from storefleet.tenancy.source import ServerAccess


class Container(Protocol):
    """Where one store's tables go (a placement row, read only)."""

    @property
    def store_id(self) -> uuid.UUID: ...

    @property
    def placement(self) -> str: ...

    @property
    def server_id(self) -> uuid.UUID | None: ...

    @property
    def database_name(self) -> str: ...

    @property
    def schema_name(self) -> str: ...


class ServerPreparation:
    """Owner-level work on servers and store containers, remembered per process."""

    def __init__(
        self, *, databases: PlatformDatabases, migrator: TenantMigrator, seed_steps: SeedSteps
    ) -> None:
        self.databases = databases
        self.migrator = migrator
        self.seed_steps = seed_steps
        self.admin_engines = AdminEngines()
        self.server_connections = ServerConnections()
        # Done once per server per process (under ``_lock``): roles, the shared tenants
        # database with its grants, the template, the pool schema at head.
        self._prepared_servers: set[uuid.UUID] = set()
        self._tenants_ready: set[uuid.UUID] = set()
        self._pool_ready: set[uuid.UUID] = set()
        self._template_ready: set[uuid.UUID] = set()
        self._lock = threading.Lock()

    def _server_prepared(self, server: ServerAccess | None, placement: str) -> bool:
        if server is None:
            return True
        if server.id not in self._prepared_servers:
            return False
        if placement == "database":
            return server.id in self._template_ready
        return server.id in self._tenants_ready

    def _prepare_server(self, server: ServerAccess | None, admin: URL, row: Container) -> None:
        """Roles on the server; for managed servers also the shared database or the template."""
        if server is None:
            return
        self._ensure_roles(server)
        if row.placement == "database":
            self._ensure_template(server)
        else:
            self._ensure_tenants_database(server)

    def _ensure_roles(self, server: ServerAccess) -> None:
        if server.id in self._prepared_servers:
            return
        with self._lock:
            if server.id in self._prepared_servers:
                return
            with self.server_connections.postgres(server) as conn:
                absorb_races(lambda: conn.execute(ddl.role_statements(server.app_password)))
            self._prepared_servers.add(server.id)

    def _ensure_tenants_database(self, server: ServerAccess) -> None:
        """The shared database of pool and schema stores, reachable by the request role."""
        if server.id in self._tenants_ready:
            return
        name = self.databases.tenants
        with self._lock:
            if server.id in self._tenants_ready:
                return
            with self.server_connections.postgres(server) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
                if not exists:
                    create_database_on(conn, name, None)
            with psycopg.connect(
                libpq_conninfo(server.admin(name)), autocommit=True, prepare_threshold=None
            ) as conn:
                absorb_races(lambda: prepare_database_access(conn, name))
            self._tenants_ready.add(server.id)

    def prepare_target(self, server: ServerAccess, row: Container) -> None:
        """Roles, database and schema at head on a managed server, ready to receive a move.

        ``row`` is a transient placement row (not in any session); nothing is recorded.
        """
        admin = server.admin(row.database_name)
        self._prepare_server(server, admin, row)
        self._prepare_container(server, admin, row)

    def _ensure_template(self, server: ServerAccess) -> None:
        """Keep the server's template database at the tenant head."""
        if server.id in self._template_ready:
            return
        name = self.databases.template
        url = server.admin(name)
        with self._lock:
            if server.id in self._template_ready:
                return
            ensure_database(server.admin_url, name)
            engine = self.admin_engines.get(url)
            with engine.begin() as conn:
                conn.execute(text(f"SELECT pg_advisory_xact_lock({int(Key.TENANT_TEMPLATE)})"))
                self._grant_connect_conn(conn, name)
                exists = conn.execute(
                    text("SELECT 1 FROM pg_namespace WHERE nspname = :s"),
                    {"s": ddl.DATABASE_SCHEMA},
                ).first()
                if not exists:
                    for stmt in ddl.create_schema_statements(ddl.DATABASE_SCHEMA):
                        conn.exec_driver_sql(stmt)
                    self.migrator.create_head(conn, ddl.DATABASE_SCHEMA)
                else:
                    self.migrator.upgrade(conn, ddl.DATABASE_SCHEMA)
            # CREATE DATABASE ... TEMPLATE refuses while anyone is connected to the template.
            self.admin_engines.forget_database(name)
            self._template_ready.add(server.id)

    @staticmethod
    def _grant_connect_conn(conn: object, database: str) -> None:
        name = ddl.checked_database(database)
        conn.exec_driver_sql(  # type: ignore[attr-defined]
            f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC; '
            f'GRANT CONNECT, TEMPORARY ON DATABASE "{name}" TO {ddl.APP_ROLE}'
        )

    # ---- per store ---------------------------------------------------------------------

    def _prepare_container(self, server: ServerAccess | None, admin: URL, row: Container) -> None:
        """The store's database or schema at head, without seed rows (moves use this)."""
        if row.placement == "database" and server is not None:
            with self.server_connections.postgres(server) as conn:
                create_database_on(conn, row.database_name, self.databases.template)
            return
        self._ensure_pool_or_schema(admin, row)

    def _ensure_pool_or_schema(self, admin: URL, row: Container) -> None:
        key = row.server_id or row.store_id
        if row.placement == "pool" and key in self._pool_ready:
            return
        self.ensure_schema_at_head(admin, row.schema_name)
        if row.placement == "pool":
            self._pool_ready.add(key)

    def _fill_container(self, server: ServerAccess, admin: URL, row: Container, seed: Seed) -> None:
        """Container and seed rows on a managed server, in as few transactions as possible."""
        if row.placement == "database":
            with self.server_connections.postgres(server) as conn:
                create_database_on(conn, row.database_name, self.databases.template)
            seed_new_database(
                libpq_conninfo(server.admin(row.database_name)), seed, self.seed_steps
            )
        elif row.placement == "pool":
            self._ensure_pool_or_schema(admin, row)
            with self.admin_engines.get(admin).begin() as conn:
                seed_rows(driver_connection(conn), row.schema_name, seed, self.seed_steps)
        else:
            self.ensure_schema_at_head(admin, row.schema_name, seed=seed)

    def ensure_schema_at_head(
        self,
        admin: URL,
        schema: str,
        *,
        seed: Seed | None = None,
        roles: ddl.TenantRoles = ddl.MANAGED_ROLES,
        regrant: bool = False,
    ) -> None:
        """Create the schema at head in one transaction, or bring an existing one to head.

        With ``seed``, the store's seed rows are inserted in that same transaction. With
        ``regrant``, an existing schema's tables are granted to ``roles.app`` again (an
        owner's database that held another store's request role before).
        """
        engine = self.admin_engines.get(admin)
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
            version_table = conn.execute(
                text(
                    "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :s AND c.relname = 'alembic_version'"
                ),
                {"s": schema},
            ).first()
            if version_table is None:
                quoted = ddl.ident(ddl.checked_schema(schema))
                statements = [
                    f"DROP SCHEMA IF EXISTS {quoted} CASCADE",
                    *ddl.create_schema_statements(schema, roles),
                ]
                conn.exec_driver_sql("; ".join(statements))
                self.migrator.create_head(conn, schema, roles=roles)
            else:
                self.migrator.upgrade(conn, schema, roles=roles)
                if regrant and roles.app:
                    grants = ddl.app_grant_statements(schema, roles.app, self.migrator.tables)
                    conn.exec_driver_sql(";\n".join(grants))
            if seed is not None:
                seed_rows(driver_connection(conn), schema, seed, self.seed_steps)

    def close(self) -> None:
        self.admin_engines.dispose()
        self.server_connections.close()
