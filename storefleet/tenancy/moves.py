"""Moving a store between placements, servers, or onto a database its owner brings.

A move is recorded in ``store_moves`` phase by phase:

``planned → paused → prepared → copied → flipped → done``

Writes are paused (``store_databases.writes_paused``; this process answers 503 at once) and
an exclusive advisory lock is taken on the source database with the key every write
transaction takes shared (``ENTER_STORE_FOR_WRITE``), so once it is held no write is in flight
anywhere and new ones get 503. Reads keep working from the source throughout. The rows are
copied and verified in one target transaction, then one control-plane transaction flips the
placement and completes the move. Until that flip nothing about the store has changed: any
failure unpauses writes and marks the move failed. After the flip the old copy is dropped;
if that fails the store is still whole on its new placement and the leftover is reported.

A store's owner may start a move once per ``move_min_interval_seconds`` (every move copies
all of the store's rows); the operator's command line is not limited.
"""

from __future__ import annotations

import inspect
import logging
import math
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import func, select, update
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet import blocking
from storefleet.control.placements.models import PLACEMENTS, StoreDatabase, StoreMove
from storefleet.control.servers.models import DatabaseServer
from storefleet.control.stores.models import Store
from storefleet.db.engine import database_error_text
from storefleet.db.urls import libpq_conninfo
from storefleet.errors import Conflict, InvalidInput, NotFound, RateLimited
from storefleet.tenancy import ddl
from storefleet.tenancy.copy import (
    Location,
    TableStat,
    VerificationError,
    clear_store,
    connect,
    copy_store,
)
from storefleet.tenancy.exports import export_store, import_store, read_manifest
from storefleet.tenancy.external import scrub_password
from storefleet.tenancy.placement import StorePlacement
from storefleet.tenancy.provisioning import drop_database
from storefleet.tenancy.removal import drop_schema, retire_store_role

if TYPE_CHECKING:
    from storefleet.runtime import Runtime

log = logging.getLogger(__name__)

LOCK_TIMEOUT = "30s"
MoveFault = Callable[[str, uuid.UUID], object]


@dataclass(frozen=True)
class ExternalTarget:
    """A database the store owner brings; the password stays inside ``url``.

    ``app_role``/``app_password``: the store's own request role (``dedicated_role``
    isolation), or None when the connecting user cannot create roles (``owner_role``).
    """

    url: URL
    app_role: str | None
    app_password: str | None
    isolation: str


async def external_target(
    runtime: Runtime, store_id: uuid.UUID, url: URL, *, can_create_role: bool
) -> ExternalTarget:
    """Where a connect-database move goes, with the store's request role when possible.

    A store already on a database of its owner keeps its role's password: the role is
    server-wide, and re-setting it would lock out reads of the current copy mid-move.
    """
    if not can_create_role:
        return ExternalTarget(url, None, None, ddl.OWNER_ISOLATION)
    role = ddl.external_app_role(store_id)
    password = secrets.token_urlsafe(24)
    if (await runtime.tenancy.placement(store_id, fresh=True)).external:
        creds = await runtime.tenancy.external_credentials(store_id)
        if creds.get("app_role") == role and creds.get("app_password"):
            password = creds["app_password"]
    return ExternalTarget(url, role, password, "dedicated_role")


@dataclass
class MoveReport:
    id: uuid.UUID
    store_id: uuid.UUID
    source: dict[str, Any]
    target: dict[str, Any]
    phase: str = "planned"
    status: str = "running"
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    leftover: str | None = None
    seconds: float = 0.0
    paused_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "from": self.source,
            "to": self.target,
            "phase": self.phase,
            "status": self.status,
            "tables": self.tables,
            "error": self.error,
            "leftover": self.leftover,
            "seconds": round(self.seconds, 3),
            "paused_seconds": round(self.paused_seconds, 3),
        }


@dataclass
class _Plan:
    values: dict[str, Any]
    source: StorePlacement
    source_loc: Location
    target_loc: Location
    external: ExternalTarget | None


def _describe(values: dict[str, Any], server_name: str | None) -> dict[str, Any]:
    """What the move record shows: never credentials, never a URL."""
    return {
        "placement": values["placement"],
        "server": server_name,
        "database": values["database_name"],
        "schema": values["schema_name"],
        "external": values["server_id"] is None,
    }


async def _fire(fault: MoveFault | None, phase: str, store_id: uuid.UUID) -> None:
    if fault is not None:
        result = fault(phase, store_id)
        if inspect.isawaitable(result):
            await result


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


async def move_store(
    runtime: Runtime,
    store_id: uuid.UUID,
    *,
    placement: str,
    server_name: str | None = None,
    external: ExternalTarget | None = None,
    fault: MoveFault | None = None,
    rate_limit: bool = True,
) -> MoveReport:
    """Move a store's data; on return it lives at the target (or the error is raised).

    ``rate_limit``: at most one move per store per ``move_min_interval_seconds`` (the
    platform's operator, on the command line, is not limited).
    """
    started = time.monotonic()
    interval = runtime.settings.move_min_interval_seconds if rate_limit else 0
    plan, report = await _plan(runtime, store_id, placement, server_name, external, interval)
    lock: psycopg.AsyncConnection[Any] | None = None
    prepared = False
    flipped = False
    paused_at: float | None = None
    try:
        await _fire(fault, "planned", store_id)

        # (b) pause writes: this process at once, every process once the lock is held.
        await _update_db(runtime, store_id, writes_paused=True)
        paused_at = time.monotonic()
        lock = await connect(plan.source_loc.admin_url)
        await lock.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
        await lock.execute(
            "SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtextextended(%s, 7301))",
            (str(store_id),),
        )
        await _phase(runtime, report, "paused")
        await _fire(fault, "paused", store_id)

        # (c) the target container, at the tenant head.
        prepared = True
        await _prepare(runtime, plan)
        await _phase(runtime, report, "prepared")
        await _fire(fault, "prepared", store_id)

        # (d) copy and verify, one target transaction.
        async def after_table(name: str) -> None:
            await _fire(fault, f"copied:{name}", store_id)

        revision, stats = await copy_store(
            plan.source_loc, plan.target_loc, store_id, after_table=after_table
        )
        report.tables = {name: stat.as_dict() for name, stat in stats.items()}
        await _phase(runtime, report, "copied")
        await _fire(fault, "verified", store_id)

        # (e) flip: placement and move completion in one control transaction.
        await _fire(fault, "flip", store_id)
        await _flip(runtime, report, plan, revision)
        flipped = True
        report.paused_seconds = time.monotonic() - paused_at
    except Exception as exc:
        await _fail(runtime, report, plan, exc, prepared=prepared)
        if lock is not None:
            await lock.close()
        if isinstance(exc, psycopg.Error | SQLAlchemyError | VerificationError):
            # A database (perhaps the owner's) refused or the copy did not verify: the
            # store is whole where it was, and the caller hears why — never a 500.
            said = _message(exc) if isinstance(exc, VerificationError) else database_error_text(exc)
            if plan.external is not None:
                said = scrub_password(said, plan.external.url)
            raise Conflict(f"The move failed; the store stays where it was: {said}") from exc
        raise

    # (f) the old copy; the store is whole on its new placement whatever happens here.
    assert flipped
    try:
        await _fire(fault, "flipped", store_id)
        await _drop_old(runtime, plan, lock)
        lock = None
    except Exception as exc:
        report.leftover = (
            f"the old copy at {plan.source.placement}/{plan.source.database}/"
            f"{plan.source.schema} could not be removed: {_message(exc)}"
        )
        log.warning("move %s of store %s: %s", report.id, store_id, report.leftover)
    finally:
        if lock is not None:
            await lock.close()
    report.phase = "done"
    report.seconds = time.monotonic() - started
    async with runtime.control_sessions() as s, s.begin():
        await s.execute(
            update(StoreMove)
            .where(StoreMove.id == report.id)
            .values(phase=report.phase, report=_stored_report(report))
        )
    log.info(
        "moved store %s to %s in %.2fs (writes paused %.2fs)",
        store_id,
        report.target["placement"],
        report.seconds,
        report.paused_seconds,
    )
    return report


def _stored_report(report: MoveReport) -> dict[str, Any]:
    return {
        "tables": report.tables,
        "leftover": report.leftover,
        "seconds": round(report.seconds, 3),
        "paused_seconds": round(report.paused_seconds, 3),
    }


# ---- phases ----------------------------------------------------------------------------


async def _plan(
    runtime: Runtime,
    store_id: uuid.UUID,
    placement: str,
    server_name: str | None,
    external: ExternalTarget | None,
    min_interval: int,
) -> tuple[_Plan, MoveReport]:
    """(a) Decide the target, refuse a no-op, a second move or one too soon; record it."""
    if placement not in PLACEMENTS:
        raise InvalidInput(f"placement must be one of {', '.join(PLACEMENTS)}", field="placement")
    source = await runtime.tenancy.placement(store_id, fresh=True)
    if source.store_status == "deleted":
        raise NotFound("Store not found")
    if source.status != "ready":
        raise Conflict("the store's data is not provisioned yet; finish provisioning first")
    source_loc = Location(
        await runtime.tenancy.admin_url(source, long_statements=True), source.schema
    )
    try:
        async with runtime.control_sessions() as s, s.begin():
            row = await s.get(StoreDatabase, store_id, with_for_update=True)
            if row is None:
                raise NotFound("Store not found")
            if external is not None:
                if placement != "database":
                    raise InvalidInput("an external database is a database placement")
                values: dict[str, Any] = {
                    "placement": "database",
                    "server_id": None,
                    "database_name": ddl.checked_database(external.url.database or ""),
                    "schema_name": ddl.DATABASE_SCHEMA,
                    "credentials_ciphertext": runtime.provisioner.external_credentials(
                        store_id, external.url, external.app_role, external.app_password
                    ),
                    "isolation": external.isolation,
                }
                target_url = runtime.tenancy.limits.foreign.with_statement_timeout(
                    external.url, runtime.tenancy.limits.move_statement_timeout
                )
                target_server = None
            else:
                try:
                    values = await runtime.provisioner.target(
                        s, store_id, placement, server_name=server_name
                    )
                except NotFound as exc:
                    raise InvalidInput(exc.detail, field="server") from None
                values |= {"credentials_ciphertext": None, "isolation": "dedicated_role"}
                server = await s.get(DatabaseServer, values["server_id"])
                assert server is not None
                target_server = server.name
                target_url = (await runtime.tenancy.server(server.id)).admin(
                    str(values["database_name"])
                )
            target_loc = Location(target_url, values["schema_name"])
            same_managed = external is None and (
                values["placement"],
                values["server_id"],
                values["database_name"],
                values["schema_name"],
            ) == (row.placement, row.server_id, row.database_name, row.schema_name)
            if same_managed or target_loc.same_as(source_loc):
                raise Conflict("the store is already there", field="placement")
            await _check_rate(s, store_id, min_interval)
            source_server = (await s.get(DatabaseServer, row.server_id)) if row.server_id else None
            source_values = {
                "placement": row.placement,
                "server_id": row.server_id,
                "database_name": row.database_name,
                "schema_name": row.schema_name,
            }
            move = StoreMove(
                store_id=store_id,
                source=_describe(source_values, source_server.name if source_server else None),
                target=_describe(values, target_server),
                phase="planned",
                status="running",
            )
            s.add(move)
            await s.flush()
    except IntegrityError:
        raise Conflict("a move of this store is already running") from None
    report = MoveReport(id=move.id, store_id=store_id, source=move.source, target=move.target)
    return _Plan(values, source, source_loc, target_loc, external), report


async def _check_rate(s: AsyncSession, store_id: uuid.UUID, min_interval: int) -> None:
    """Refuse a move while another runs, or sooner than ``min_interval`` after the last.

    Called with the store's ``store_databases`` row locked, so two requests cannot both pass.
    Every recorded move counts, failed ones included: each one copied rows.
    """
    last, running, now = (
        await s.execute(
            select(
                func.max(StoreMove.started_at),
                func.bool_or(StoreMove.status == "running"),
                func.now(),
            ).where(StoreMove.store_id == store_id)
        )
    ).one()
    if running:
        raise Conflict("a move of this store is already running")
    if last is None or min_interval <= 0:
        return
    wait = min_interval - (now - last).total_seconds()
    if wait > 0:
        raise RateLimited(
            f"this store was moved less than {min_interval} seconds ago; "
            f"try again in {math.ceil(wait)} seconds",
            retry_after=math.ceil(wait),
        )


async def _update_db(runtime: Runtime, store_id: uuid.UUID, **values: Any) -> None:
    async with runtime.control_sessions() as s, s.begin():
        await s.execute(
            update(StoreDatabase).where(StoreDatabase.store_id == store_id).values(**values)
        )
    runtime.tenancy.invalidate(store_id)


async def _phase(runtime: Runtime, report: MoveReport, phase: str) -> None:
    report.phase = phase
    async with runtime.control_sessions() as s, s.begin():
        await s.execute(update(StoreMove).where(StoreMove.id == report.id).values(phase=phase))


async def _prepare(runtime: Runtime, plan: _Plan) -> None:
    """(c) The target container at head; it may hold garbage of an earlier failed move."""
    if plan.external is not None:
        try:
            await blocking.database_admin(prepare_external, runtime, plan.external)
        except (psycopg.Error, SQLAlchemyError) as exc:
            # The owner's database, not ours, refused: say what it said (never a 500).
            said = database_error_text(exc)
            raise Conflict(
                scrub_password(
                    f"Your database could not be prepared for the store: {said}",
                    plan.external.url,
                ),
                field="database_url",
            ) from exc
        return
    server = await runtime.tenancy.server(plan.values["server_id"])
    row = StoreDatabase(
        store_id=plan.source.store_id,
        **{k: v for k, v in plan.values.items() if k not in ("credentials_ciphertext",)},
    )
    await blocking.database_admin(runtime.provisioner.prepare_target, server, row)


def prepare_external(runtime: Runtime, external: ExternalTarget) -> None:
    """Roles (dedicated isolation) and the ``tenant`` schema at head in the owner's database.

    A tenant schema left by an earlier stay is brought to head and granted to this store's
    request role; a ``tenant`` schema storefleet did not create is refused.
    """
    admin = external.url
    schema = ddl.DATABASE_SCHEMA
    roles = ddl.external_roles(external.app_role)
    migrator = runtime.provisioner.migrator
    with psycopg.connect(libpq_conninfo(admin), autocommit=True, prepare_threshold=None) as conn:
        if external.app_role and external.app_password:
            conn.execute(ddl.role_statements(external.app_password, external.app_role))
            conn.execute(
                psycopg.sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                    psycopg.sql.Identifier(ddl.checked_database(admin.database or "")),
                    psycopg.sql.Identifier(external.app_role),
                )
            )
        found = conn.execute(
            "SELECT n.nspname, c.relname IS NOT NULL FROM pg_namespace n "
            "LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = 'alembic_version' "
            "WHERE n.nspname = %s",
            (schema,),
        ).fetchone()
        if found is not None and not found[1]:
            raise Conflict(
                'this database already has a schema named "tenant" that storefleet did not '
                "create; rename or drop it, or use another database",
                field="database_url",
            )
        if found is not None:
            version = conn.execute("SELECT version_num FROM tenant.alembic_version").fetchone()
            current = version[0] if version else None
            if current not in migrator.path_between(None, migrator.head):
                raise Conflict(
                    f"the tenant schema in this database is at {current}, which this platform "
                    f"does not know (its head is {migrator.head})",
                    field="database_url",
                )
    runtime.provisioner.ensure_schema_at_head(admin, schema, roles=roles, regrant=True)


async def _flip(runtime: Runtime, report: MoveReport, plan: _Plan, revision: str) -> None:
    values = {
        k: plan.values[k]
        for k in (
            "placement",
            "server_id",
            "database_name",
            "schema_name",
            "credentials_ciphertext",
            "isolation",
        )
    }
    report.phase = "flipped"
    report.status = "completed"
    async with runtime.control_sessions() as s, s.begin():
        await s.execute(
            update(StoreDatabase)
            .where(StoreDatabase.store_id == plan.source.store_id)
            .values(**values, schema_revision=revision, writes_paused=False, status="ready")
        )
        await s.execute(
            update(StoreMove)
            .where(StoreMove.id == report.id)
            .values(
                phase="flipped",
                status="completed",
                finished_at=datetime.now(UTC),
                report=_stored_report(report),
            )
        )
    runtime.tenancy.invalidate(plan.source.store_id)
    if values["placement"] == "database":
        # A pool kept from an earlier stay at the same database (dropped since) is dead.
        where = values["server_id"] or f"external:{plan.source.store_id}"
        runtime.tenancy.registry.forget(f"{where}/{values['database_name']}")


async def _fail(
    runtime: Runtime, report: MoveReport, plan: _Plan, exc: BaseException, *, prepared: bool
) -> None:
    """Before the flip: the store stays where it was, writable again; the move is failed."""
    report.status = "failed"
    report.error = _message(exc)
    log.warning("move %s of store %s failed: %s", report.id, plan.source.store_id, report.error)
    if prepared:
        try:
            await _discard_target(runtime, plan)
        except Exception as cleanup:
            log.warning("move %s: partial target not removed: %s", report.id, _message(cleanup))
    async with runtime.control_sessions() as s, s.begin():
        await s.execute(
            update(StoreDatabase)
            .where(StoreDatabase.store_id == plan.source.store_id)
            .values(writes_paused=False)
        )
        await s.execute(
            update(StoreMove)
            .where(StoreMove.id == report.id)
            .values(status="failed", error=report.error, finished_at=datetime.now(UTC))
        )
    runtime.tenancy.invalidate(plan.source.store_id)


async def _discard_target(runtime: Runtime, plan: _Plan) -> None:
    """Best effort: remove what a failed move left at the target."""
    store_id = plan.source.store_id
    if plan.external is None and plan.values["placement"] == "database":
        server = await runtime.tenancy.server(plan.values["server_id"])
        runtime.provisioner.admin_engines.forget_database(plan.values["database_name"])
        await blocking.database_admin(drop_database, server.admin_url, plan.values["database_name"])
    elif plan.external is None and plan.values["placement"] == "schema":
        await drop_schema(plan.target_loc)
    else:
        await clear_store(plan.target_loc, store_id)


async def _drop_old(
    runtime: Runtime, plan: _Plan, lock: psycopg.AsyncConnection[Any] | None
) -> None:
    """(f) Remove the source copy, then let go of the lock."""
    source = plan.source
    if source.external or source.placement == "pool":
        await clear_store(plan.source_loc, source.store_id)
        if source.external:
            await retire_store_role(plan.source_loc, plan.source, drop_role=plan.external is None)
    elif source.placement == "schema":
        await drop_schema(plan.source_loc)
    else:
        if lock is not None:
            await lock.close()
        assert source.server_id is not None
        server = await runtime.tenancy.server(source.server_id)
        runtime.tenancy.registry.forget(source.engine_key)
        runtime.provisioner.admin_engines.forget_database(source.database)
        await blocking.database_admin(drop_database, server.admin_url, source.database)
        return
    if lock is not None:
        await lock.close()


async def latest_moves(runtime: Runtime, store_id: uuid.UUID, limit: int = 10) -> list[StoreMove]:
    async with runtime.control_sessions() as s:
        rows = await s.execute(
            select(StoreMove)
            .where(StoreMove.store_id == store_id)
            .order_by(StoreMove.started_at.desc())
            .limit(limit)
        )
        return list(rows.scalars())


# ---- export / import -------------------------------------------------------------------


async def store_location(runtime: Runtime, store_id: uuid.UUID) -> Location:
    where = await runtime.tenancy.placement(store_id, fresh=True)
    if where.status != "ready":
        raise Conflict("the store's data is not provisioned yet")
    return Location(await runtime.tenancy.admin_url(where, long_statements=True), where.schema)


async def export_to_file(runtime: Runtime, store_id: uuid.UUID, path: Path) -> dict[str, Any]:
    """A consistent snapshot of the store's rows in one file (writes need not stop)."""
    return await export_store(await store_location(runtime, store_id), store_id, path)


async def import_from_file(runtime: Runtime, path: Path) -> tuple[uuid.UUID, dict[str, TableStat]]:
    """Restore an export into the store's current placement, which must hold none of its rows.

    The store must exist in this control plane (its id is in the manifest); creating a store
    from a file of another platform is not done here.
    """
    store_id = read_manifest(path).store_id
    async with runtime.control_sessions() as s:
        store = await s.get(Store, store_id)
    if store is None:
        raise NotFound(
            f"store {store_id} does not exist in this control plane; create it first "
            "(importing into a new store is not supported yet)"
        )
    return store_id, await import_store(await store_location(runtime, store_id), path)


async def abandon_dead_moves(runtime: Runtime) -> list[uuid.UUID]:
    """Unpause stores whose mover died mid-move (start-up recovery).

    A live mover holds the store's advisory lock on the source database for the whole move;
    if that lock can be taken, nobody is moving the store any more. The store never left its
    source (the flip marks the move completed in the same transaction), so it is whole there:
    its writes resume and the move is marked abandoned. A later move clears the partial target.
    """
    async with runtime.control_sessions() as s:
        running = list(
            (await s.execute(select(StoreMove).where(StoreMove.status == "running"))).scalars()
        )
    abandoned: list[uuid.UUID] = []
    for move in running:
        try:
            where = await runtime.tenancy.placement(move.store_id, fresh=True)
            conn = await connect(await runtime.tenancy.admin_url(where))
        except Exception as exc:
            log.warning("cannot check move %s: %s", move.id, _message(exc))
            continue
        try:
            got = (
                await (
                    await conn.execute(
                        "SELECT pg_catalog.pg_try_advisory_lock("
                        "pg_catalog.hashtextextended(%s, 7301))",
                        (str(move.store_id),),
                    )
                ).fetchone()
            )[0]  # type: ignore[index]
            if not got:
                continue
            async with runtime.control_sessions() as s, s.begin():
                await s.execute(
                    update(StoreMove)
                    .where(StoreMove.id == move.id, StoreMove.status == "running")
                    .values(
                        status="abandoned",
                        error="the process running this move stopped; writes resumed",
                        finished_at=datetime.now(UTC),
                    )
                )
                await s.execute(
                    update(StoreDatabase)
                    .where(StoreDatabase.store_id == move.store_id)
                    .values(writes_paused=False)
                )
            runtime.tenancy.invalidate(move.store_id)
            abandoned.append(move.store_id)
            log.warning(
                "abandoned move %s of store %s: its mover had stopped", move.id, move.store_id
            )
        finally:
            await conn.close()
    return abandoned
