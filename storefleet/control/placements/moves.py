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

Planning is ``move_plan``; recovery after a dead mover is ``move_recovery``.
"""

from __future__ import annotations

import inspect
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from storefleet import blocking
from storefleet.control.placements.models import StoreDatabase, StoreMove
from storefleet.control.placements.move_plan import (
    ExternalTarget,
    MovePlan,
    MoveReport,
    error_message,
    plan_move,
)
from storefleet.db.engine import database_error_text
from storefleet.db.locks import Seed
from storefleet.db.urls import libpq_conninfo
from storefleet.errors import Conflict
from storefleet.tenancy import ddl
from storefleet.tenancy.databases import drop_database
from storefleet.tenancy.datacopy import (
    VerificationError,
    clear_store,
    connect,
    copy_store,
)
from storefleet.tenancy.external import scrub_password
from storefleet.tenancy.removal import drop_schema, retire_store_role

if TYPE_CHECKING:
    from storefleet.control.placements.plane import Plane

log = logging.getLogger(__name__)

LOCK_TIMEOUT = "30s"
MoveFault = Callable[[str, uuid.UUID], object]


async def _fire(fault: MoveFault | None, phase: str, store_id: uuid.UUID) -> None:
    if fault is not None:
        result = fault(phase, store_id)
        if inspect.isawaitable(result):
            await result


async def move_store(
    runtime: Plane,
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
    plan, report = await plan_move(runtime, store_id, placement, server_name, external, interval)
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
            f"SELECT pg_catalog.pg_advisory_lock({Seed.STORE_WRITES.qualified_sql('%s')})",
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
            said = (
                error_message(exc)
                if isinstance(exc, VerificationError)
                else database_error_text(exc)
            )
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
            f"{plan.source.schema} could not be removed: {error_message(exc)}"
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


async def _update_db(runtime: Plane, store_id: uuid.UUID, **values: Any) -> None:
    async with runtime.control_sessions() as s, s.begin():
        await s.execute(
            update(StoreDatabase).where(StoreDatabase.store_id == store_id).values(**values)
        )
    runtime.tenancy.invalidate(store_id)


async def _phase(runtime: Plane, report: MoveReport, phase: str) -> None:
    report.phase = phase
    async with runtime.control_sessions() as s, s.begin():
        await s.execute(update(StoreMove).where(StoreMove.id == report.id).values(phase=phase))


async def _prepare(runtime: Plane, plan: MovePlan) -> None:
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


def prepare_external(runtime: Plane, external: ExternalTarget) -> None:
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


async def _flip(runtime: Plane, report: MoveReport, plan: MovePlan, revision: str) -> None:
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
    runtime: Plane, report: MoveReport, plan: MovePlan, exc: BaseException, *, prepared: bool
) -> None:
    """Before the flip: the store stays where it was, writable again; the move is failed."""
    report.status = "failed"
    report.error = error_message(exc)
    log.warning("move %s of store %s failed: %s", report.id, plan.source.store_id, report.error)
    if prepared:
        try:
            await _discard_target(runtime, plan)
        except Exception as cleanup:
            log.warning(
                "move %s: partial target not removed: %s", report.id, error_message(cleanup)
            )
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


async def _discard_target(runtime: Plane, plan: MovePlan) -> None:
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
    runtime: Plane, plan: MovePlan, lock: psycopg.AsyncConnection[Any] | None
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


async def latest_moves(runtime: Plane, store_id: uuid.UUID, limit: int = 10) -> list[StoreMove]:
    async with runtime.control_sessions() as s:
        rows = await s.execute(
            select(StoreMove)
            .where(StoreMove.store_id == store_id)
            .order_by(StoreMove.started_at.desc())
            .limit(limit)
        )
        return list(rows.scalars())
