"""Provisioning: a persisted state machine that a retry always completes.

``pending → provisioning → ready`` (or ``failed`` with the error and the last step reached).
Each step is idempotent and a retry runs them all again, so a crash anywhere is finished by
running ``provision`` again (``storefleet stores provision --resume``, and at start-up).

Cost per store is kept near the raw PostgreSQL work (issue #3): two single-statement
control-plane writes (mark ``provisioning`` returning the rows; ``ready``), server
preparation (roles, the shared tenants database and its grants, the template) done once per
server per process (``tenancy.preparation``), and (seed rows pipelined, see
``tenancy.seed``):

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
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet import blocking
from storefleet.control.accounts.models import Account
from storefleet.control.placements import planning
from storefleet.control.placements.credentials import encrypt_external_credentials
from storefleet.control.placements.loading import placement_from_rows
from storefleet.control.placements.models import StoreDatabase
from storefleet.control.stores.models import Store
from storefleet.errors import NotFound
from storefleet.security.keyring import Keyring
from storefleet.tenancy.databases import PlatformDatabases
from storefleet.tenancy.migrations import TenantMigrator
from storefleet.tenancy.preparation import ServerPreparation
from storefleet.tenancy.seed import Seed, SeedSteps
from storefleet.tenancy.session import Tenancy

log = logging.getLogger(__name__)

STEPS = ("server", "container", "seed", "ready")

FaultInjector = Callable[[str, uuid.UUID], None]


class ProvisioningFault(RuntimeError):
    """Raised by a test's fault injector to simulate a crash after a step."""


class Provisioner(ServerPreparation):
    """The state machine over a store's placement row; the server work is inherited."""

    def __init__(
        self,
        *,
        control_sessions: async_sessionmaker[AsyncSession],
        tenancy: Tenancy,
        keyring: Keyring,
        databases: PlatformDatabases,
        migrator: TenantMigrator,
        seed_steps: SeedSteps,
    ) -> None:
        super().__init__(databases=databases, migrator=migrator, seed_steps=seed_steps)
        self.control_sessions = control_sessions
        # Single-statement control-plane writes: one round trip, no BEGIN/COMMIT.
        self._control_autocommit = async_sessionmaker(
            control_sessions.kw["bind"].execution_options(isolation_level="AUTOCOMMIT"),
            expire_on_commit=False,
        )
        self.tenancy = tenancy
        self.keyring = keyring
        self.fault: FaultInjector | None = None

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
        return await planning.plan(
            session, self.databases, store, placement, server_name=server_name
        )

    async def target(
        self,
        session: AsyncSession,
        store_id: uuid.UUID,
        placement: str,
        *,
        server_name: str | None = None,
    ) -> dict[str, object]:
        """Column values of a store's placement row for ``placement`` (no writes)."""
        return await planning.target(
            session, self.databases, store_id, placement, server_name=server_name
        )

    def external_credentials(
        self, store_id: uuid.UUID, url: URL, app_role: str | None, app_password: str | None
    ) -> bytes:
        """The owner's database credentials, encrypted for the store's placement row."""
        return encrypt_external_credentials(self.keyring, store_id, url, app_role, app_password)

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

        seed = seed_of(store, owner)
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

    async def _seed(self, store_id: uuid.UUID, seed: Seed) -> None:
        """The seed rows through the request role (owner-supplied databases); idempotent."""
        async with self.tenancy.session(store_id, allow_unready=True) as s:
            for model, values in self.seed_steps(seed):
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
                            Store.live(),
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


def seed_of(store: Store, owner: Account) -> Seed:
    """What the seed rows of a store need from the control plane (plain values)."""
    return Seed(
        store_id=store.id,
        name=store.name,
        slug=store.slug,
        owner_id=owner.id,
        email=owner.email,
        first_name=owner.first_name,
        last_name=owner.last_name,
        email_verified=owner.email_verified,
    )


def utcnow() -> datetime:
    return datetime.now(UTC)
