"""``tenancy.session(store)``: the only way to tenant data.

Each session is one transaction on the store's database, as the request role, whose first
statement sets ``search_path`` and ``storefleet.store_id`` for that transaction only
(``set_config(..., true)``), so nothing leaks to the next user of the connection, even
behind PgBouncer in transaction mode.

The same first statement sets ``statement_timeout`` and ``lock_timeout`` for the transaction
(a slow store holds its connections for at most that long), and a read session is
``READ ONLY``. A statement cancelled by those limits, or a store database that cannot be
reached, answers 503 with ``Retry-After`` — the store is busy, not broken
(``tenancy.failures``).

``tenancy.read(store, query, params)`` is the lean path for hot read-only queries: the same
transaction (``BEGIN READ ONLY``; the same ``set_config`` call; the query; ``COMMIT``) sent
on a pooled psycopg connection as one simple-protocol query string (values bound
client-side by psycopg's ``ClientCursor``), so it costs one network round trip and no ORM
work.

Placements, server access and owner credentials are read through a ``PlacementSource``
(``tenancy.source``; the control plane implements it) and cached here.

Databases a store owner brings are reached through ``ForeignPolicy`` (pinned, checked
addresses; timeouts; no credential of ours offered): see ``storefleet.db.foreign``. Their
host is resolved and checked again every ``address_ttl`` seconds; a changed address is
checked before it is used, and the engine for the old one is replaced.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncClientCursor
from psycopg.rows import dict_row
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.util import greenlet_spawn

from storefleet.db.urls import parse_url
from storefleet.errors import NotFound, ServiceUnavailable
from storefleet.tenancy.ddl import (
    APP_ROLE,
    MANAGED_ROLES,
    OWNER_ONLY,
    TenantRoles,
    checked_schema,
    external_roles,
)
from storefleet.tenancy.engines import EngineRegistry
from storefleet.tenancy.entering import ENTER_STORE, ENTER_STORE_FOR_WRITE
from storefleet.tenancy.external import ExternalDatabaseError, check_host_allowed
from storefleet.tenancy.failures import MOVE_RETRY_AFTER, as_unavailable
from storefleet.tenancy.limits import TenantLimits
from storefleet.tenancy.placement import StorePlacement
from storefleet.tenancy.reads import ReadQuery
from storefleet.tenancy.source import PlacementSource, ServerAccess
from storefleet.tenancy.writes import WRITES_OPTION, AfterCommit

SHARED_PLACEMENTS = ("pool", "schema")


def _request_role(creds: dict[str, str]) -> str | None:
    """The login role of an owner-supplied database; None: the URL's own user (owner-role).

    Stores connected before per-store roles existed log in as the shared storefleet_app.
    """
    if not creds.get("app_password"):
        return None
    return creds.get("app_role", APP_ROLE)


@dataclass
class _OwnerDatabase:
    """A store's decrypted owner-database credentials and the addresses checked for them."""

    creds: dict[str, str]
    addresses: tuple[str, ...]
    checked_at: float


class Tenancy:
    """Routes a store to its data: placements and server credentials cached, engines pooled."""

    def __init__(
        self,
        source: PlacementSource,
        registry: EngineRegistry,
        limits: TenantLimits | None = None,
    ) -> None:
        self.source = source
        self.registry = registry
        self.limits = limits or TenantLimits()
        self._enter = self.limits.enter_params()
        self._placements: dict[uuid.UUID, StorePlacement] = {}
        self._generation = 0
        self._servers: dict[uuid.UUID, ServerAccess] = {}
        self._external: dict[uuid.UUID, _OwnerDatabase] = {}
        # Told (store, tables written) after each write transaction that wrote something
        # commits (``tenancy.writes``); a callback must not raise.
        self.after_commit: list[AfterCommit] = []

    def invalidate(self, store_id: uuid.UUID | None = None) -> None:
        self._generation += 1
        if store_id is None:
            self._placements.clear()
            self._external.clear()
        else:
            self._placements.pop(store_id, None)
            self._external.pop(store_id, None)

    async def placement(self, store_id: uuid.UUID, *, fresh: bool = False) -> StorePlacement:
        cached = None if fresh else self._placements.get(store_id)
        if cached is not None:
            return cached
        generation = self._generation
        found = await self.source.placement(store_id)
        if found is None:
            raise NotFound("Store not found")
        if len(self._placements) > 100_000:
            self._placements.clear()
        # A change announced while we were reading may not be in what we read: don't keep it.
        if generation == self._generation:
            self._placements[store_id] = found
        return found

    async def server(self, server_id: uuid.UUID) -> ServerAccess:
        access = self._servers.get(server_id)
        if access is None:
            found = await self.source.server(server_id)
            if found is None:
                raise NotFound("database server not found")
            access = found
            self._servers[server_id] = access
        return access

    def forget_server(self, server_id: uuid.UUID) -> None:
        self._servers.pop(server_id, None)

    async def external_credentials(self, store_id: uuid.UUID) -> dict[str, str]:
        return (await self._owner_database(store_id)).creds

    async def _owner_database(self, store_id: uuid.UUID) -> _OwnerDatabase:
        """Credentials and checked addresses; the host is re-checked after ``address_ttl``."""
        known = self._external.get(store_id)
        now = time.monotonic()
        if known is not None and now - known.checked_at < self.limits.address_ttl:
            return known
        generation = self._generation
        if known is None:
            found_creds = await self.source.external_credentials(store_id)
            if found_creds is None:
                raise NotFound("store has no connected database")
            creds = found_creds
        else:
            creds = known.creds
        url = parse_url(creds["url"])
        try:
            checked = await check_host_allowed(url, allow_private=self.limits.allow_private)
            addresses = checked.addresses
        except ExternalDatabaseError as exc:
            if known is not None and "could not be found" in exc.detail:
                addresses = known.addresses  # DNS is down: the last checked answer stands
            else:
                raise ServiceUnavailable(
                    f"The store's database cannot be used: {exc.detail}",
                    retry_after=MOVE_RETRY_AFTER,
                ) from None
        found = _OwnerDatabase(creds, addresses, now)
        if generation == self._generation:
            self._external[store_id] = found
        return found

    async def admin_url(self, where: StorePlacement, *, long_statements: bool = False) -> URL:
        """Owner-level URL of the store's database (DDL, moves, provisioning).

        An owner's database comes with the foreign policy applied and its checked addresses
        pinned; ``long_statements`` gives its statements the move timeout (COPY streams).
        """
        if where.server_id is not None:
            return (await self.server(where.server_id)).admin(where.database)
        owner = await self._owner_database(where.store_id)
        timeout = self.limits.move_statement_timeout if long_statements else None
        return self.limits.foreign.apply(
            parse_url(owner.creds["url"]), owner.addresses, statement_timeout=timeout
        )

    async def tenant_roles(self, where: StorePlacement) -> TenantRoles:
        """Owner and request role of the store's tenant schema (what migrations grant to)."""
        if where.server_id is not None:
            return MANAGED_ROLES
        role = _request_role(await self.external_credentials(where.store_id))
        return OWNER_ONLY if role is None else external_roles(role)

    async def app_url(self, where: StorePlacement) -> URL:
        """Request-role URL of the store's database."""
        if where.server_id is not None:
            return (await self.server(where.server_id)).app(where.database)
        owner = await self._owner_database(where.store_id)
        url = parse_url(owner.creds["url"])
        role = _request_role(owner.creds)
        if role is not None:
            url = url.set(username=role, password=owner.creds["app_password"])
        return self.limits.foreign.apply(url, owner.addresses)

    async def _engine(self, where: StorePlacement) -> AsyncEngine:
        return self.registry.get(
            where.engine_key,
            await self.app_url(where),
            shared=where.placement in SHARED_PLACEMENTS and where.server_id is not None,
        )

    @asynccontextmanager
    async def session(
        self,
        store: StorePlacement | uuid.UUID,
        *,
        write: bool = True,
        allow_unready: bool = False,
    ) -> AsyncIterator[AsyncSession]:
        """A transaction on the store's data, committed when the block ends without error."""
        where = store if isinstance(store, StorePlacement) else await self.placement(store)
        if where.status != "ready" and not allow_unready:
            raise ServiceUnavailable(
                "The store's data is not ready yet", retry_after=MOVE_RETRY_AFTER
            )
        if write and where.writes_paused:
            raise ServiceUnavailable(
                "The store is being moved; writes resume shortly", retry_after=MOVE_RETRY_AFTER
            )
        engine = await self._engine(where)
        params = {
            "schema": checked_schema(where.schema),
            "store_id": str(where.store_id),
            **self._enter,
        }
        written: set[str] = set()
        try:
            async with AsyncSession(engine, expire_on_commit=False, autoflush=True) as session:
                async with session.begin():
                    if write:
                        await session.connection(execution_options={WRITES_OPTION: written})
                        row = (await session.execute(ENTER_STORE_FOR_WRITE, params)).one()
                        if not row[4]:
                            raise ServiceUnavailable(
                                "The store is being moved; writes resume shortly",
                                retry_after=MOVE_RETRY_AFTER,
                            )
                    else:
                        await session.execute(ENTER_STORE, params)
                    yield session
        except (DBAPIError, psycopg.Error) as exc:
            unavailable = as_unavailable(exc)
            if unavailable is not None:
                raise unavailable from exc
            raise
        if written:
            tables = frozenset(written)
            for callback in self.after_commit:
                await callback(where.store_id, tables)

    async def read(
        self,
        store: StorePlacement | uuid.UUID,
        query: ReadQuery,
        params: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Rows of one read-only query in the store, in one round trip (hot read paths).

        Same rules as ``session(store, write=False)``: the store must be ready (reads go on
        while a move pauses writes), and the store is entered with ``set_config(..., true)``
        for this transaction only. The connection comes from the store's engine pool.
        """
        where = store if isinstance(store, StorePlacement) else await self.placement(store)
        if where.status != "ready":
            raise ServiceUnavailable(
                "The store's data is not ready yet", retry_after=MOVE_RETRY_AFTER
            )
        engine = await self._engine(where)
        values = {
            **query.defaults,
            **(params or {}),
            "_sf_enter_schema": checked_schema(where.schema),
            "_sf_enter_store_id": str(where.store_id),
            "_sf_statement_timeout": self._enter["statement_timeout"],
            "_sf_lock_timeout": self._enter["lock_timeout"],
        }
        try:
            return await self._read_once(engine, query, values)
        except (DBAPIError, psycopg.Error) as exc:
            unavailable = as_unavailable(exc)
            if unavailable is not None:
                raise unavailable from exc
            raise

    async def _read_once(
        self, engine: AsyncEngine, query: ReadQuery, values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        pooled = await engine.raw_connection()
        healthy = False
        try:
            conn = pooled.driver_connection
            assert conn is not None
            # One simple-protocol query: BEGIN; set_config pair; the query; COMMIT. It is one
            # round trip, like a pipeline, at a fraction of the pipeline's client-side CPU
            # (measured: psycopg's pipeline loop was half of the storefront route's time).
            # Autocommit for the duration keeps psycopg from sending its own BEGIN first; the
            # explicit BEGIN/COMMIT make it one transaction, so set_config(..., true) ends
            # with it. Values are bound client-side by psycopg's literal adapters (never
            # formatted by hand); nothing is prepared, so PgBouncer's transaction mode is
            # fine. On any error the connection is invalidated below (it may be mid-txn).
            await conn.set_autocommit(True)
            cursor = AsyncClientCursor(conn, row_factory=dict_row)
            await cursor.execute(query.transaction_sql, values)
            cursor.nextset()  # BEGIN READ ONLY -> set_config
            cursor.nextset()  # set_config -> the query
            rows: list[dict[str, Any]] = await cursor.fetchall()
            await conn.set_autocommit(False)
            healthy = True
            return rows
        finally:
            if not healthy:
                # Failed or cancelled mid-pipeline: don't hand the connection to anyone else.
                await greenlet_spawn(pooled.invalidate)
            await greenlet_spawn(pooled.close)

    async def aclose(self) -> None:
        await self.registry.aclose()
