"""Provisioning: a persisted state machine that a retry always completes.

``pending → provisioning → ready`` (or ``failed`` with the error). Each step is idempotent
and the step reached is recorded in ``store_databases``, so a crash anywhere is finished by
running ``provision`` again (``storefleet stores provision --resume``, and at start-up).

Fast paths: ``pool`` inserts rows; ``schema`` creates the head schema in one transaction and
stamps it; ``database`` clones a template database kept at the tenant head on each server.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, select, text, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.commerce.inventory.models import InventoryLocation
from storefleet.commerce.pricing.models import CurrencySetting
from storefleet.commerce.store.models import StoreConfig, StoreProfile
from storefleet.commerce.users.models import TenantUser
from storefleet.control.accounts.models import Account
from storefleet.control.servers import service as servers
from storefleet.control.servers.service import ServerAccess
from storefleet.control.stores.models import Store
from storefleet.db.urls import libpq_conninfo
from storefleet.errors import Conflict, InvalidInput, NotFound
from storefleet.security.keyring import Keyring
from storefleet.tenancy import ddl
from storefleet.tenancy.migrations import TenantMigrator, tenant_migrator
from storefleet.tenancy.models import PLACEMENTS, StoreDatabase
from storefleet.tenancy.session import Tenancy, external_credentials_aad

log = logging.getLogger(__name__)

STEPS = ("server", "container", "seed", "ready")
DEFAULT_CURRENCY = "USD"

FaultInjector = Callable[[str, uuid.UUID], None]


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
                engine = create_engine(
                    url,
                    pool_size=2,
                    max_overflow=4,
                    pool_recycle=600,
                    connect_args={"prepare_threshold": None},
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


def ensure_database(admin: URL, name: str, *, template: str | None = None) -> bool:
    """CREATE DATABASE (optionally from a template) unless it exists; retries a busy template."""
    ddl.checked_database(name)
    with psycopg.connect(
        libpq_conninfo(admin.set(database="postgres")), autocommit=True, prepare_threshold=None
    ) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        stmt = sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(ddl.OWNER_ROLE)
        )
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(template), sql.Identifier(ddl.OWNER_ROLE)
            )
        for attempt in range(50):
            try:
                conn.execute(stmt)
                return True
            except psycopg.errors.DuplicateDatabase:
                return False
            except psycopg.errors.ObjectInUse:
                if attempt == 49:
                    raise
                time.sleep(0.1)
        return False


def drop_database(admin: URL, name: str) -> None:
    ddl.checked_database(name)
    with psycopg.connect(
        libpq_conninfo(admin.set(database="postgres")), autocommit=True, prepare_threshold=None
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
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
        self.tenancy = tenancy
        self.keyring = keyring
        self.databases = databases
        self.migrator = migrator or tenant_migrator()
        self.admin_engines = AdminEngines()
        self.fault: FaultInjector | None = None
        self._prepared_servers: set[uuid.UUID] = set()
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
        self, store_id: uuid.UUID, url: URL, app_password: str | None
    ) -> bytes:
        payload = {"url": url.render_as_string(hide_password=False)}
        if app_password:
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
        async with self.control_sessions() as s:
            row = await s.get(StoreDatabase, store_id)
            store = await s.get(Store, store_id)
            if row is None or store is None:
                raise NotFound("Store not found")
            owner = await s.get(Account, store.owner_id)
            assert owner is not None
        if row.status == "ready":
            return row
        await self._set_state(store_id, status="provisioning", last_error=None)
        try:
            await self._run_steps(row, store, owner)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"[:2000]
            log.warning("provisioning store %s failed: %s", store_id, message)
            await self._set_state(store_id, status="failed", last_error=message)
            raise
        async with self.control_sessions() as s:
            final = await s.get(StoreDatabase, store_id)
            assert final is not None
            return final

    async def _run_steps(self, row: StoreDatabase, store: Store, owner: Account) -> None:
        placement = await self.tenancy.placement(row.store_id, fresh=True)
        admin = await self.tenancy.admin_url(placement)
        server = await self.tenancy.server(row.server_id) if row.server_id else None

        await anyio.to_thread.run_sync(self._prepare_server, server, admin, row)
        await self._set_state(row.store_id, step="server")
        self._after("server", row.store_id)

        await anyio.to_thread.run_sync(self._prepare_container, server, admin, row)
        await self._set_state(row.store_id, step="container", schema_revision=self.migrator.head)
        self._after("container", row.store_id)

        await self._seed(row.store_id, store, owner)
        await self._set_state(row.store_id, step="seed")
        self._after("seed", row.store_id)

        async with self.control_sessions() as s, s.begin():
            await s.execute(
                update(StoreDatabase)
                .where(StoreDatabase.store_id == row.store_id)
                .values(status="ready", step="ready", last_error=None)
            )
            await s.execute(
                update(Store)
                .where(Store.id == row.store_id, Store.status == "pending")
                .values(status="active")
            )
        self.tenancy.invalidate(row.store_id)
        self._after("ready", row.store_id)

    def _prepare_server(self, server: ServerAccess | None, admin: URL, row: StoreDatabase) -> None:
        """Roles on the server; for managed servers also the shared database or the template."""
        if server is None:
            return
        with self._lock:
            if server.id not in self._prepared_servers:
                with psycopg.connect(
                    libpq_conninfo(server.admin("postgres")),
                    autocommit=True,
                    prepare_threshold=None,
                ) as conn:
                    conn.execute(ddl.role_statements(server.app_password))
                self._prepared_servers.add(server.id)
        if row.placement == "database":
            self._ensure_template(server)
        else:
            ensure_database(server.admin_url, self.databases.tenants)
            self._grant_connect(server.admin(self.databases.tenants))

    def prepare_target(self, server: ServerAccess, row: StoreDatabase) -> None:
        """Roles, database and schema at head on a managed server, ready to receive a move.

        ``row`` is a transient placement row (not in any session); nothing is recorded.
        """
        admin = server.admin(row.database_name)
        self._prepare_server(server, admin, row)
        self._prepare_container(server, admin, row)

    def _grant_connect(self, url: URL) -> None:
        with self.admin_engines.get(url).begin() as conn:
            conn.exec_driver_sql(
                f'REVOKE ALL ON DATABASE "{ddl.checked_database(url.database or "")}" FROM PUBLIC; '
                f'GRANT CONNECT, TEMPORARY ON DATABASE "{url.database}" TO {ddl.APP_ROLE}'
            )

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

    def _prepare_container(
        self, server: ServerAccess | None, admin: URL, row: StoreDatabase
    ) -> None:
        if row.placement == "database" and server is not None:
            ensure_database(server.admin_url, row.database_name, template=self.databases.template)
            return
        key = row.server_id or row.store_id
        if row.placement == "pool" and key in self._pool_ready:
            return
        self.ensure_schema_at_head(admin, row.schema_name)
        if row.placement == "pool":
            self._pool_ready.add(key)

    def ensure_schema_at_head(self, admin: URL, schema: str) -> None:
        """Create the schema at head in one transaction, or bring an existing one to head."""
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
                conn.exec_driver_sql(
                    f"DROP SCHEMA IF EXISTS {ddl.ident(ddl.checked_schema(schema))} CASCADE"
                )
                for stmt in ddl.create_schema_statements(schema):
                    conn.exec_driver_sql(stmt)
                self.migrator.create_head(conn, schema)
            else:
                self.migrator.upgrade(conn, schema)

    async def _seed(self, store_id: uuid.UUID, store: Store, owner: Account) -> None:
        """The store record, its config and the owner as a tenant user; idempotent."""
        async with self.tenancy.session(store_id, allow_unready=True) as s:
            existing = (
                await s.execute(select(StoreProfile.id).where(StoreProfile.store_id == store_id))
            ).first()
            if existing is None:
                s.add(
                    StoreProfile(
                        store_id=store_id,
                        id=store_id,
                        owner_account_id=owner.id,
                        name=store.name,
                        slug=store.slug,
                        currency=DEFAULT_CURRENCY,
                        timezone="UTC",
                        settings={},
                        contact_email=owner.email,
                    )
                )
                await s.flush()
                s.add(StoreConfig(store_id=store_id, profile_id=store_id))
                # What a store needs to sell on day one: its currency and a stock location.
                s.add(
                    CurrencySetting(
                        store_id=store_id, code=DEFAULT_CURRENCY, is_enabled=True, is_default=True
                    )
                )
                s.add(
                    InventoryLocation(store_id=store_id, name="Main", code="main", is_default=True)
                )
            has_owner = (
                await s.execute(
                    select(TenantUser.id).where(
                        TenantUser.store_id == store_id, TenantUser.account_id == owner.id
                    )
                )
            ).first()
            if has_owner is None:
                s.add(
                    TenantUser(
                        store_id=store_id,
                        account_id=owner.id,
                        email=owner.email,
                        first_name=owner.first_name,
                        last_name=owner.last_name,
                        role="owner",
                        account_type="agency",
                        email_verified=owner.email_verified,
                    )
                )

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
