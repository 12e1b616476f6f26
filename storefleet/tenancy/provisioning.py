"""Provisioning: a persisted state machine that a retry always completes.

``pending → provisioning → ready`` (or ``failed`` with the error and the last step reached).
Each step is idempotent and a retry runs them all again, so a crash anywhere is finished by
running ``provision`` again (``storefleet stores provision --resume``, and at start-up).

Cost per store is kept near the raw PostgreSQL work (issue #3): two single-statement
control-plane writes (mark ``provisioning`` returning the rows; ``ready``), server
preparation (roles, the shared tenants database and its grants, the template) done once per
server per process, and (seed rows pipelined, see ``tenancy.seed``):

- ``pool``: one admin transaction inserting the seed rows;
- ``schema``: ONE admin transaction creating the head schema and inserting the seed rows;
- ``database``: ``CREATE DATABASE … TEMPLATE`` on a kept-open admin connection, then one
  short-lived admin connection to the new database that seeds it in one round trip.

Concurrent first provisions (in one process or several) are safe: preparation is
serialized per process, and the races another process can cause (duplicate database,
role or extension, ``tuple concurrently updated`` on GRANT) are absorbed and retried.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet import blocking
from storefleet.control.accounts.models import Account
from storefleet.control.placements.models import PLACEMENTS, StoreDatabase
from storefleet.control.servers import service as servers
from storefleet.control.servers.service import ServerAccess
from storefleet.control.stores.models import Store
from storefleet.db.foreign import unmanaged
from storefleet.db.urls import engine_url_and_args, libpq_conninfo
from storefleet.errors import Conflict, InvalidInput, NotFound
from storefleet.security.keyring import Keyring
from storefleet.tenancy import ddl
from storefleet.tenancy.migrations import TenantMigrator, tenant_migrator
from storefleet.tenancy.placement import placement_from_rows
from storefleet.tenancy.seed import Seed, seed_new_database, seed_rows
from storefleet.tenancy.session import Tenancy, external_credentials_aad

log = logging.getLogger(__name__)

STEPS = ("server", "container", "seed", "ready")
# Serializes extension creation and database grants across processes (first provisions).
PREPARE_LOCK_KEY = 7301003
RACE_ATTEMPTS = 8

FaultInjector = Callable[[str, uuid.UUID], None]
T = TypeVar("T")


class ProvisioningFault(RuntimeError):
    """Raised by a test's fault injector to simulate a crash after a step."""


@dataclass(frozen=True)
class PlatformDatabases:
    """Names of the shared tenant database and the template, per control database."""

    tenants: str
    template: str

    @classmethod
    def for_control(cls, control_database: str) -> PlatformDatabases:
        base = ddl.checked_database(control_database)[:40]
        return cls(tenants=f"{base}_tenants", template=f"{base}_tmpl")


def driver_connection(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under a SQLAlchemy one (for pipelining in its transaction)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    return driver


def absorb_races(action: Callable[[], T]) -> T:
    """Run catalog work that another process may be doing at the same moment.

    Two first provisions racing on the same server collide on ``CREATE ROLE``/``CREATE
    EXTENSION`` (unique violations on the catalog) or on ``GRANT`` (``tuple concurrently
    updated``); the statements are idempotent, so running them again succeeds.
    """
    for attempt in range(RACE_ATTEMPTS):
        try:
            return action()
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject) as exc:
            error: Exception = exc
        except psycopg.errors.InternalError_ as exc:
            if "concurrently" not in str(exc):
                raise
            error = exc
        if attempt == RACE_ATTEMPTS - 1:
            raise error
        time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


class AdminEngines:
    """Small sync pools for owner-level work, one per (server, database)."""

    def __init__(self) -> None:
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def get(self, url: URL) -> Engine:
        key = url.render_as_string(hide_password=False)
        with self._lock:
            engine = self._engines.get(key)
            if engine is None:
                engine_url, connect_args = engine_url_and_args(url)
                engine = create_engine(
                    engine_url,
                    pool_size=2,
                    max_overflow=4,
                    pool_recycle=600,
                    connect_args={"prepare_threshold": None, **connect_args},
                )
                self._engines[key] = engine
            return engine

    def forget_database(self, database: str) -> None:
        with self._lock:
            for key in [k for k, e in self._engines.items() if e.url.database == database]:
                self._engines.pop(key).dispose()

    def dispose(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class ServerConnections:
    """Per server: kept-open autocommit connections to ``postgres`` for CREATE DATABASE.

    A new store database is then seeded over one plain psycopg connection (no engine, and
    nothing in the tenant engine registry while it is provisioned).
    """

    KEEP_IDLE = 2

    def __init__(self) -> None:
        self._idle: dict[uuid.UUID, list[psycopg.Connection[Any]]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def postgres(self, server: ServerAccess) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            idle = self._idle.setdefault(server.id, [])
            conn = idle.pop() if idle else None
        if conn is None or conn.closed or conn.broken:
            conn = psycopg.connect(
                libpq_conninfo(server.admin("postgres")), autocommit=True, prepare_threshold=None
            )
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        with self._lock:
            idle = self._idle.setdefault(server.id, [])
            if len(idle) < self.KEEP_IDLE and not conn.closed:
                idle.append(conn)
                conn = None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            for idle in self._idle.values():
                for conn in idle:
                    conn.close()
            self._idle.clear()


def create_database_statement(name: str, template: str | None = None) -> sql.Composed:
    if template:
        return sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
            sql.Identifier(ddl.checked_database(name)),
            sql.Identifier(ddl.checked_database(template)),
            sql.Identifier(ddl.OWNER_ROLE),
        )
    return sql.SQL("CREATE DATABASE {} OWNER {}").format(
        sql.Identifier(ddl.checked_database(name)), sql.Identifier(ddl.OWNER_ROLE)
    )


def create_database_on(conn: psycopg.Connection[Any], name: str, template: str | None) -> bool:
    """CREATE DATABASE unless it exists; waits for a busy template. True when created.

    A concurrent creation of the same name fails with DuplicateDatabase, or with a unique
    violation on ``pg_database_datname_index`` when both passed the existence check at once.
    """
    stmt = create_database_statement(name, template)
    for attempt in range(50):
        try:
            conn.execute(stmt)
            return True
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            return False
        except psycopg.errors.ObjectInUse:
            if attempt == 49:
                raise
            time.sleep(0.1)
    return False


def ensure_database(admin: URL, name: str, *, template: str | None = None) -> bool:
    """CREATE DATABASE (optionally from a template) unless it exists; retries a busy template."""
    ddl.checked_database(name)
    with psycopg.connect(
        libpq_conninfo(admin.set(database="postgres")), autocommit=True, prepare_threshold=None
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        return create_database_on(conn, name, template)


def drop_database(admin: URL, name: str) -> None:
    ddl.checked_database(name)
    with psycopg.connect(
        libpq_conninfo(admin.set(database="postgres")), autocommit=True, prepare_threshold=None
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def prepare_database_access(conn: psycopg.Connection[Any], database: str) -> None:
    """Extensions, and CONNECT for the request role only, on a shared database (once)."""
    name = sql.Identifier(ddl.checked_database(database))
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (PREPARE_LOCK_KEY,))
        for statement in ddl.extension_statements():
            conn.execute(statement.encode())
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(name))
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                name, sql.Identifier(ddl.APP_ROLE)
            )
        )


class Provisioner:
    def __init__(
        self,
        *,
        control_sessions: async_sessionmaker[AsyncSession],
        tenancy: Tenancy,
        keyring: Keyring,
        databases: PlatformDatabases,
        migrator: TenantMigrator | None = None,
    ) -> None:
        self.control_sessions = control_sessions
        # Single-statement control-plane writes: one round trip, no BEGIN/COMMIT.
        self._control_autocommit = async_sessionmaker(
            control_sessions.kw["bind"].execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
        )
        self.tenancy = tenancy
        self.keyring = keyring
        self.databases = databases
        self.migrator = migrator or tenant_migrator()
        self.admin_engines = AdminEngines()
        self.server_connections = ServerConnections()
        self.fault: FaultInjector | None = None
        # Done once per server per process (under ``_lock``): roles, the shared tenants
        # database with its grants, the template, the pool schema at head.
        self._prepared_servers: set[uuid.UUID] = set()
        self._tenants_ready: set[uuid.UUID] = set()
        self._pool_ready: set[uuid.UUID] = set()
        self._template_ready: set[uuid.UUID] = set()
        self._lock = threading.Lock()

    # ---- control-plane records -------------------------------------------------------

    async def plan(
        self,
        session: AsyncSession,
        store: Store,
        placement: str,
        *,
        server_name: str | None = None,
    ) -> StoreDatabase:
        """Decide where a new store goes and record it as ``pending`` (same transaction)."""
        if placement not in PLACEMENTS:
            raise InvalidInput(
                f"placement must be one of {', '.join(PLACEMENTS)}", field="placement"
            )
        target = await self.target(session, store.id, placement, server_name=server_name)
        row = StoreDatabase(store_id=store.id, status="pending", **target)
        session.add(row)
        await session.flush()
        return row

    async def target(
        self,
        session: AsyncSession,
        store_id: uuid.UUID,
        placement: str,
        *,
        server_name: str | None = None,
    ) -> dict[str, object]:
        """Column values of a store's placement row for ``placement`` (no writes)."""
        if placement == "database":
            server = (
                await servers.get_server(session, server_name)
                if server_name
                else await servers.least_loaded_server(session)
            )
            if server.status != "active":
                raise Conflict(f"server {server.name} does not take new stores", field="server")
            return {
                "placement": "database",
                "server_id": server.id,
                "database_name": ddl.store_database_name(store_id),
                "schema_name": ddl.DATABASE_SCHEMA,
            }
        if server_name:
            raise InvalidInput(
                "a server can only be chosen for the database placement", field="server"
            )
        default = await servers.default_server(session)
        return {
            "placement": placement,
            "server_id": default.id,
            "database_name": self.databases.tenants,
            "schema_name": ddl.POOL_SCHEMA
            if placement == "pool"
            else ddl.store_schema_name(store_id),
        }

    def external_credentials(
        self, store_id: uuid.UUID, url: URL, app_role: str | None, app_password: str | None
    ) -> bytes:
        """The owner's URL as they gave it (our pinned addresses and limits are re-derived
        on every use, never stored), with the store's request role when there is one."""
        payload = {"url": unmanaged(url).render_as_string(hide_password=False)}
        if app_role and app_password:
            payload["app_role"] = app_role
            payload["app_password"] = app_password
        return self.keyring.encrypt_text(json.dumps(payload), external_credentials_aad(store_id))

    async def _set_state(self, store_id: uuid.UUID, **values: object) -> None:
        async with self.control_sessions() as s, s.begin():
            await s.execute(
                update(StoreDatabase).where(StoreDatabase.store_id == store_id).values(**values)
            )
        self.tenancy.invalidate(store_id)

    def _after(self, step: str, store_id: uuid.UUID) -> None:
        if self.fault is not None:
            self.fault(step, store_id)

    # ---- the state machine ------------------------------------------------------------

    async def provision(self, store_id: uuid.UUID) -> StoreDatabase:
        """Bring a store to ``ready``; on error record ``failed``, the step reached and why."""
        # One autocommit statement marks the row ``provisioning`` and returns what the steps
        # need (a crash later leaves it ``provisioning``: the start-up resume finishes it).
        async with self._control_autocommit() as s:
            found = (
                await s.execute(
                    select(StoreDatabase, Store, Account).from_statement(
                        update(StoreDatabase)
                        .where(
                            StoreDatabase.store_id == store_id,
                            StoreDatabase.status != "ready",
                            Store.id == StoreDatabase.store_id,
                            Account.id == Store.owner_id,
                        )
                        .values(status="provisioning", last_error=None)
                        .returning(StoreDatabase, Store, Account)
                    ),
                    execution_options={"synchronize_session": False},
                )
            ).first()
            if found is None:
                ready = await s.get(StoreDatabase, store_id)
                if ready is None or ready.status != "ready":
                    raise NotFound("Store not found")
                return ready
            row, store, owner = found
        self.tenancy.invalidate(store_id)
        reached: list[str] = []
        try:
            return await self._run_steps(row, store, owner, reached)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"[:2000]
            log.warning("provisioning store %s failed: %s", store_id, message)
            values: dict[str, object] = {"status": "failed", "last_error": message}
            if reached:
                values["step"] = reached[-1]
            if "container" in reached:
                values["schema_revision"] = self.migrator.head
            await self._set_state(store_id, **values)
            raise

    async def _run_steps(
        self, row: StoreDatabase, store: Store, owner: Account, reached: list[str]
    ) -> StoreDatabase:
        """The steps in order; ``reached`` records each one done (for the failure record)."""
        server = await self.tenancy.server(row.server_id) if row.server_id else None
        if server is not None:
            admin = server.admin(row.database_name)
        else:
            admin = await self.tenancy.admin_url(placement_from_rows(row, store))

        if not self._server_prepared(server, row.placement):
            await blocking.database_admin(self._prepare_server, server, admin, row)
        reached.append("server")
        self._after("server", row.store_id)

        seed = Seed.of(store, owner)
        if server is None:
            # An owner-supplied database: schema at head as its admin, then the seed rows
            # through the request role, which also proves the request role can reach them.
            roles = await self.tenancy.tenant_roles(placement_from_rows(row, store))
            await blocking.database_admin(
                functools.partial(self.ensure_schema_at_head, admin, row.schema_name, roles=roles)
            )
            reached.append("container")
            self._after("container", row.store_id)
            await self._seed(row.store_id, seed)
        else:
            await blocking.database_admin(self._fill_container, server, admin, row, seed)
            reached.append("container")
            self._after("container", row.store_id)
        reached.append("seed")
        self._after("seed", row.store_id)

        # One statement flips the placement row to ``ready`` and a pending store to active.
        activate = (
            update(Store)
            .where(Store.id == row.store_id, Store.status == "pending")
            .values(status="active")
            .cte("activated")
        )
        async with self._control_autocommit() as s:
            final = (
                await s.scalars(
                    select(StoreDatabase).from_statement(
                        update(StoreDatabase)
                        .where(StoreDatabase.store_id == row.store_id)
                        .values(
                            status="ready",
                            step="ready",
                            last_error=None,
                            schema_revision=self.migrator.head,
                        )
                        .returning(StoreDatabase)
                        .add_cte(activate)
                    ),
                    execution_options={"synchronize_session": False},
                )
            ).one()
        self.tenancy.invalidate(row.store_id)
        reached.append("ready")
        self._after("ready", row.store_id)
        return final

    # ---- once per server ---------------------------------------------------------------

    def _server_prepared(self, server: ServerAccess | None, placement: str) -> bool:
        if server is None:
            return True
        if server.id not in self._prepared_servers:
            return False
        if placement == "database":
            return server.id in self._template_ready
        return server.id in self._tenants_ready

    def _prepare_server(self, server: ServerAccess | None, admin: URL, row: StoreDatabase) -> None:
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

    def prepare_target(self, server: ServerAccess, row: StoreDatabase) -> None:
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
                conn.execute(text("SELECT pg_advisory_xact_lock(7301002)"))
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

    def _prepare_container(
        self, server: ServerAccess | None, admin: URL, row: StoreDatabase
    ) -> None:
        """The store's database or schema at head, without seed rows (moves use this)."""
        if row.placement == "database" and server is not None:
            with self.server_connections.postgres(server) as conn:
                create_database_on(conn, row.database_name, self.databases.template)
            return
        self._ensure_pool_or_schema(admin, row)

    def _ensure_pool_or_schema(self, admin: URL, row: StoreDatabase) -> None:
        key = row.server_id or row.store_id
        if row.placement == "pool" and key in self._pool_ready:
            return
        self.ensure_schema_at_head(admin, row.schema_name)
        if row.placement == "pool":
            self._pool_ready.add(key)

    def _fill_container(
        self, server: ServerAccess, admin: URL, row: StoreDatabase, seed: Seed
    ) -> None:
        """Container and seed rows on a managed server, in as few transactions as possible."""
        if row.placement == "database":
            with self.server_connections.postgres(server) as conn:
                create_database_on(conn, row.database_name, self.databases.template)
            seed_new_database(libpq_conninfo(server.admin(row.database_name)), seed)
        elif row.placement == "pool":
            self._ensure_pool_or_schema(admin, row)
            with self.admin_engines.get(admin).begin() as conn:
                seed_rows(driver_connection(conn), row.schema_name, seed)
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
                seed_rows(driver_connection(conn), schema, seed)

    async def _seed(self, store_id: uuid.UUID, seed: Seed) -> None:
        """The seed rows through the request role (owner-supplied databases); idempotent."""
        async with self.tenancy.session(store_id, allow_unready=True) as s:
            for model, values in seed.rows():
                await s.execute(insert(model).values(values).on_conflict_do_nothing())

    async def resume_all(self) -> list[tuple[uuid.UUID, str | None]]:
        """Finish every store left pending, provisioning or failed; (store, error) each."""
        async with self.control_sessions() as s:
            ids = list(
                (
                    await s.execute(
                        select(StoreDatabase.store_id)
                        .join(Store, Store.id == StoreDatabase.store_id)
                        .where(
                            StoreDatabase.status.in_(("pending", "provisioning", "failed")),
                            Store.deleted_at.is_(None),
                        )
                        .order_by(StoreDatabase.created_at)
                    )
                ).scalars()
            )
        results: list[tuple[uuid.UUID, str | None]] = []
        for store_id in ids:
            try:
                await self.provision(store_id)
                results.append((store_id, None))
            except Exception as exc:
                results.append((store_id, f"{type(exc).__name__}: {exc}"))
        return results

    def close(self) -> None:
        self.admin_engines.dispose()
        self.server_connections.close()


async def resume_in_background(provisioner: Provisioner) -> None:
    """Start-up task: finish interrupted provisionings; logs failures, never raises."""
    try:
        results = await provisioner.resume_all()
    except Exception:
        log.exception("resuming provisioning at start-up failed")
        return
    for store_id, error in results:
        if error:
            log.warning("provisioning store %s still fails: %s", store_id, error)
    if results:
        log.info(
            "resumed provisioning of %d stores (%d still failing)",
            len(results),
            sum(1 for _, e in results if e),
        )


def utcnow() -> datetime:
    return datetime.now(UTC)
