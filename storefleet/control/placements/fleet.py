"""Fleet migrations: bring every store's tenant schema to one revision.

A *unit* is one schema to migrate: the shared ``pool`` schema of a tenants database (many
stores), a ``schema`` store's schema, a ``database`` store's ``tenant`` schema, and each
server's template database (so new stores clone the new head). Units are grouped by
(server, database): one connection per group, ONE catalog query tells which schemas are
behind, and each behind schema is upgraded in its own transaction, so a failing schema
rolls back alone and the others go on. Groups run in parallel threads up to
``concurrency``.

Running the units of one database is ``tenancy.fleet_runner``; this module picks the units
from the placement rows and records the outcome. The control plane follows with one
statement per database, and only for stores whose
recorded revision or error changed: a run with nothing to do costs one catalog query per
database and no writes. Applied migration files are checksummed in
``tenant_migration_files``; a run refuses to start when a recorded file changed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.from_thread
import anyio.to_thread
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert

from storefleet.control.placements.loading import placement_from_rows
from storefleet.control.placements.models import PLACEMENTS, StoreDatabase, TenantMigrationFile
from storefleet.control.placements.plane import Stores
from storefleet.control.servers.models import DatabaseServer
from storefleet.control.stores.models import Store
from storefleet.errors import DomainError
from storefleet.tenancy import ddl
from storefleet.tenancy.fleet_runner import (
    FleetUnit,
    SchemaGroup,
    UnitResult,
    known_revision,
    migrate_group,
)
from storefleet.tenancy.migrations import TenantMigrator, record_checksums

if TYPE_CHECKING:
    from storefleet.tenancy.databases import PlatformDatabases

log = logging.getLogger(__name__)


ProgressCallback = Callable[[UnitResult, int, int], None]


class FleetPlane(Stores, Protocol):
    """What a fleet migration uses of the runtime: no provisioner (nothing is provisioned)."""

    databases: PlatformDatabases

    @property
    def tenant_migrator(self) -> TenantMigrator: ...


@dataclass
class FleetReport:
    target: str
    dry_run: bool
    results: list[UnitResult] = field(default_factory=list)
    recorded_checksums: list[str] = field(default_factory=list)
    stores_updated: int = 0
    stores_not_ready: int = 0
    seconds: float = 0.0

    def having(self, outcome: str) -> list[UnitResult]:
        return [r for r in self.results if r.outcome == outcome]

    @property
    def migrated(self) -> list[UnitResult]:
        return self.having("migrated")

    @property
    def current(self) -> list[UnitResult]:
        return self.having("current")

    @property
    def would_migrate(self) -> list[UnitResult]:
        return self.having("would_migrate")

    @property
    def failed(self) -> list[UnitResult]:
        return self.having("failed")

    @property
    def skipped(self) -> list[UnitResult]:
        return self.having("skipped")

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass
class _Plan:
    groups: list[SchemaGroup]
    recorded: dict[uuid.UUID, tuple[str | None, str | None]]
    not_ready: int
    unreachable: list[UnitResult] = field(default_factory=list)


async def migrate_fleet(
    runtime: FleetPlane,
    *,
    target: str = "head",
    concurrency: int = 4,
    store_ids: Collection[uuid.UUID] | None = None,
    placements: Collection[str] | None = None,
    dry_run: bool = False,
    on_progress: ProgressCallback | None = None,
    migrator: TenantMigrator | None = None,
    lock_timeout_ms: int = 5000,
) -> FleetReport:
    """Bring the selected stores (default: all ready ones) and the templates to ``target``.

    Raises ``ChangedMigrationError`` before touching anything when an applied migration
    file changed. ``store_ids`` selecting a pool store migrates its whole pool schema (the
    schema is shared). Stores not ``ready`` are left to provisioning, which brings them to
    head; stores being moved (writes paused) are skipped.
    """
    started = time.perf_counter()
    migrator = migrator or runtime.tenant_migrator
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if placements is not None and not set(placements) <= set(PLACEMENTS):
        raise ValueError(f"placements must be among {', '.join(PLACEMENTS)}")
    revision = _resolve(migrator, target)
    checksums = migrator.checksums()
    async with runtime.control_sessions() as s:
        existing = {
            r.revision: r.checksum for r in (await s.execute(select(TenantMigrationFile))).scalars()
        }
    # Refuses when a recorded file changed or disappeared, before any schema is touched.
    record_checksums(existing, checksums, list(existing))

    plan = await _plan(runtime, store_ids=store_ids, placements=placements)
    report = FleetReport(target=revision, dry_run=dry_run, stores_not_ready=plan.not_ready)
    total = sum(len(g.units) for g in plan.groups) + len(plan.unreachable)
    ancestors = frozenset(migrator.path_between(None, revision))

    def emit(result: UnitResult) -> None:
        report.results.append(result)
        if on_progress is not None:
            on_progress(result, len(report.results), total)

    for result in plan.unreachable:
        emit(result)

    async def run_group(group: SchemaGroup, limiter: anyio.CapacityLimiter) -> None:
        results = await anyio.to_thread.run_sync(
            partial(
                migrate_group,
                group,
                migrator,
                revision,
                ancestors,
                dry_run=dry_run,
                lock_timeout_ms=lock_timeout_ms,
                emit=lambda r: anyio.from_thread.run_sync(emit, r),
            ),
            limiter=limiter,
        )
        if not dry_run:
            report.stores_updated += await _record_revisions(runtime, results, plan.recorded)

    limiter = anyio.CapacityLimiter(concurrency)
    async with anyio.create_task_group() as tg:
        for group in sorted(plan.groups, key=lambda g: -len(g.units)):
            tg.start_soon(run_group, group, limiter)

    if not dry_run:
        report.recorded_checksums = await _record_checksums(
            runtime, migrator, report.results, existing, checksums
        )
    report.seconds = time.perf_counter() - started
    log.info(
        "fleet migration to %s: %d migrated, %d current, %d failed, %d skipped in %.2fs",
        revision,
        len(report.migrated),
        len(report.current),
        len(report.failed),
        len(report.skipped),
        report.seconds,
    )
    return report


def _resolve(migrator: TenantMigrator, target: str) -> str:
    """The target's full revision id; ValueError naming it when the history has no such."""
    try:
        return migrator.resolve(target)
    except ValueError:
        raise
    except Exception as exc:
        # Alembic (imported only when the history needed it) refuses an ambiguous id.
        from alembic.util import CommandError

        if isinstance(exc, CommandError):
            raise ValueError(f"unknown tenant revision {target!r}") from None
        raise


async def _plan(
    runtime: FleetPlane,
    *,
    store_ids: Collection[uuid.UUID] | None,
    placements: Collection[str] | None,
) -> _Plan:
    """Every unit to look at, grouped by (server, database), from the control plane."""
    async with runtime.control_sessions() as s:
        rows = (
            await s.execute(
                select(StoreDatabase, Store)
                .join(Store, Store.id == StoreDatabase.store_id)
                .order_by(StoreDatabase.created_at)
            )
        ).all()
        servers = (
            (await s.execute(select(DatabaseServer).where(DatabaseServer.status != "disabled")))
            .scalars()
            .all()
        )
    wanted_ids = set(store_ids) if store_ids is not None else None
    wanted_kinds = set(placements) if placements is not None else set(PLACEMENTS)
    groups: dict[tuple[str, str], SchemaGroup] = {}
    pools: dict[tuple[str, str, str], list[uuid.UUID]] = {}
    recorded: dict[uuid.UUID, tuple[str | None, str | None]] = {}
    not_ready = 0
    unreachable: list[UnitResult] = []

    async def group_for(db: StoreDatabase, store: Store, location: str, key: str) -> SchemaGroup:
        found = groups.get((key, db.database_name))
        if found is None:
            where = placement_from_rows(db, store)
            url = await runtime.tenancy.admin_url(where)
            found = SchemaGroup(location=location, url=url, units=[])
            groups[(key, db.database_name)] = found
        return found

    names = {srv.id: srv.name for srv in servers}
    for db, store in rows:
        if db.status != "ready":
            not_ready += 1
            continue
        if db.placement not in wanted_kinds:
            continue
        if db.server_id is not None:
            key = str(db.server_id)
            location = names.get(db.server_id, key)
        else:
            key, location = f"external:{db.store_id}", "external"
        if db.placement == "pool":
            pools.setdefault((key, db.database_name, db.schema_name), []).append(db.store_id)
            recorded[db.store_id] = (db.schema_revision, db.last_error)
            await group_for(db, store, location, key)
            continue
        if wanted_ids is not None and db.store_id not in wanted_ids:
            continue
        if db.writes_paused:
            log.info("fleet migration skips store %s: it is being moved", db.store_id)
            continue
        recorded[db.store_id] = (db.schema_revision, db.last_error)
        try:
            roles = await runtime.tenancy.tenant_roles(placement_from_rows(db, store))
            group = await group_for(db, store, location, key)
        except DomainError as exc:
            # An owner's database we may not reach now (its host fails the address check):
            # that store fails, the fleet goes on.
            unit = FleetUnit(
                db.placement, location, db.database_name, db.schema_name, (db.store_id,)
            )
            unreachable.append(UnitResult(unit, "failed", db.schema_revision, None, exc.detail))
            continue
        unit = FleetUnit(
            db.placement, location, db.database_name, db.schema_name, (db.store_id,), roles
        )
        group.units.append(unit)

    for (key, database, schema), ids in pools.items():
        if wanted_ids is not None and not wanted_ids.intersection(ids):
            for store_id in ids:
                recorded.pop(store_id, None)
            continue
        groups[(key, database)].units.append(
            FleetUnit("pool", groups[(key, database)].location, database, schema, tuple(ids))
        )

    if wanted_ids is None and "database" in wanted_kinds:
        template = runtime.databases.template
        for srv in servers:
            access = await runtime.tenancy.server(srv.id)
            groups.setdefault(
                (str(srv.id), template),
                SchemaGroup(location=srv.name, url=access.admin(template), units=[]),
            ).units.append(FleetUnit("template", srv.name, template, ddl.DATABASE_SCHEMA))
    return _Plan(
        groups=[g for g in groups.values() if g.units],
        recorded=recorded,
        not_ready=not_ready,
        unreachable=unreachable,
    )


async def _record_revisions(
    runtime: FleetPlane,
    results: Sequence[UnitResult],
    recorded: dict[uuid.UUID, tuple[str | None, str | None]],
) -> int:
    """One statement per database, touching only stores whose revision or error changed."""
    ids: list[uuid.UUID] = []
    revisions: list[str | None] = []
    errors: list[str | None] = []
    for result in results:
        if result.outcome not in ("migrated", "current", "failed"):
            continue
        for store_id in result.unit.store_ids:
            old_revision, old_error = recorded.get(store_id, (None, None))
            revision = result.to_revision or old_revision
            error = result.error if result.outcome == "failed" else None
            if (revision, error) != (old_revision, old_error):
                ids.append(store_id)
                revisions.append(revision)
                errors.append(error)
    if not ids:
        return 0
    async with runtime.control_sessions() as s, s.begin():
        await s.execute(
            text(
                "UPDATE store_databases AS d "
                "SET schema_revision = v.rev, last_error = v.err, updated_at = now() "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:revs AS text[]), CAST(:errs AS text[])) "
                "AS v(id, rev, err) WHERE d.store_id = v.id"
            ),
            {"ids": ids, "revs": revisions, "errs": errors},
        )
    for store_id in ids:
        runtime.tenancy.invalidate(store_id)
    return len(ids)


async def _record_checksums(
    runtime: FleetPlane,
    migrator: TenantMigrator,
    results: Sequence[UnitResult],
    existing: dict[str, str],
    checksums: dict[str, str],
) -> list[str]:
    """Checksums of every revision now applied somewhere and not yet recorded."""
    reached = {r.to_revision for r in results if r.to_revision}
    applied: set[str] = set()
    for revision in reached:
        if known_revision(migrator, revision):
            applied.update(migrator.path_between(None, revision))
    new = record_checksums(existing, checksums, sorted(applied))
    if not new:
        return []
    async with runtime.control_sessions() as s, s.begin():
        await s.execute(
            insert(TenantMigrationFile)
            .values([{"revision": r, "checksum": c} for r, c in sorted(new.items())])
            .on_conflict_do_nothing(index_elements=["revision"])
        )
    return sorted(new)
