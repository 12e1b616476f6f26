"""Running a fleet migration's units of one database: the tenancy side of ``migrate_fleet``.

A *unit* is one schema to migrate: the shared ``pool`` schema of a tenants database (many
stores), a ``schema`` store's schema, a ``database`` store's ``tenant`` schema, or a
server's template database. The units of one (server, database) are served by one
connection: ONE catalog query tells which schemas are behind, and each behind schema is
upgraded in its own transaction, so a failing schema rolls back alone and the others go on.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
from sqlalchemy import Connection, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from storefleet.db.engine import database_error_text
from storefleet.db.urls import engine_url_and_args, libpq_conninfo
from storefleet.tenancy import ddl
from storefleet.tenancy.migrations import TenantMigrator

log = logging.getLogger(__name__)

UNIT_KINDS = ("pool", "schema", "database", "template")
OUTCOMES = ("migrated", "current", "would_migrate", "failed", "skipped")


@dataclass(frozen=True)
class FleetUnit:
    """One schema to bring to the target, and the stores whose data it holds."""

    kind: str
    location: str
    database: str
    schema: str
    store_ids: tuple[uuid.UUID, ...] = ()
    roles: ddl.TenantRoles = ddl.MANAGED_ROLES

    @property
    def label(self) -> str:
        if self.kind in ("schema", "database") and len(self.store_ids) == 1:
            return f"{self.kind} {self.store_ids[0]}"
        return f"{self.kind} {self.location}/{self.database}/{self.schema}"


@dataclass
class UnitResult:
    unit: FleetUnit
    outcome: str
    from_revision: str | None
    to_revision: str | None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class SchemaGroup:
    """Units sharing one (server, database): served by one connection."""

    location: str
    url: URL
    units: list[FleetUnit]


def _template_exists(url: URL) -> bool:
    with psycopg.connect(
        libpq_conninfo(url.set(database="postgres")), autocommit=True, prepare_threshold=None
    ) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)).fetchone()
            is not None
        )


def migrate_group(
    group: SchemaGroup,
    migrator: TenantMigrator,
    target: str,
    ancestors: frozenset[str],
    *,
    dry_run: bool,
    lock_timeout_ms: int,
    emit: Callable[[UnitResult], None],
) -> list[UnitResult]:
    """One database: one catalog query, then each behind schema in its own transaction.

    Runs in a worker thread. The catalog query goes over a plain driver connection; only a
    database with something to apply gets a SQLAlchemy connection for Alembic (its dialect
    set-up costs round trips of its own). Nothing is left connected afterwards (a template
    database refuses to be cloned while anyone is connected to it).
    """
    results: list[UnitResult] = []

    def done(result: UnitResult) -> None:
        results.append(result)
        emit(result)

    try:
        with psycopg.connect(
            libpq_conninfo(group.url), autocommit=True, prepare_threshold=None
        ) as catalog:
            revisions = migrator.current_revisions(catalog, [u.schema for u in group.units])
    except psycopg.OperationalError as exc:
        templates_only = all(u.kind == "template" for u in group.units)
        if templates_only and not _template_exists(group.url):
            for unit in group.units:
                done(UnitResult(unit, "skipped", None, None, "no template database yet"))
            return results
        for unit in group.units:
            done(UnitResult(unit, "failed", None, None, database_error_text(exc)))
        return results

    behind: list[FleetUnit] = []
    for unit in group.units:
        settled = _without_upgrade(
            unit, revisions[unit.schema], migrator, target, ancestors, dry_run=dry_run
        )
        if settled is None:
            behind.append(unit)
        else:
            done(settled)
    if not behind:
        return results

    engine_url, connect_args = engine_url_and_args(group.url)
    engine = create_engine(
        engine_url, poolclass=NullPool, connect_args={"prepare_threshold": None, **connect_args}
    )
    try:
        try:
            conn = engine.connect()
        except OperationalError as exc:
            for unit in behind:
                done(UnitResult(unit, "failed", None, None, database_error_text(exc)))
            return results
        with conn:
            for unit in behind:
                done(
                    _upgrade_unit(
                        conn, unit, revisions[unit.schema], migrator, target, lock_timeout_ms
                    )
                )
    finally:
        engine.dispose()
    return results


def _without_upgrade(
    unit: FleetUnit,
    current: str | None,
    migrator: TenantMigrator,
    target: str,
    ancestors: frozenset[str],
    *,
    dry_run: bool,
) -> UnitResult | None:
    """The unit's outcome when nothing is to be applied to it; None when it must upgrade."""
    if current == target:
        return UnitResult(unit, "current", current, current)
    if current is None:
        if unit.kind == "template":
            return UnitResult(unit, "skipped", None, None, "template not initialised yet")
        return UnitResult(unit, "failed", None, None, "schema has no alembic_version table")
    if current not in ancestors:
        if known_revision(migrator, current):
            return UnitResult(unit, "skipped", current, current, f"ahead of the target ({current})")
        return UnitResult(unit, "failed", current, current, f"unknown revision {current!r}")
    if dry_run:
        return UnitResult(unit, "would_migrate", current, target)
    return None


def _upgrade_unit(
    conn: Connection,
    unit: FleetUnit,
    current: str | None,
    migrator: TenantMigrator,
    target: str,
    lock_timeout_ms: int,
) -> UnitResult:
    started = time.perf_counter()
    try:
        with conn.begin():
            # A busy table fails this schema quickly instead of queueing every request.
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
            migrator.upgrade(conn, unit.schema, target, roles=unit.roles)
    except Exception as exc:
        error = database_error_text(exc)
        log.warning("tenant migration of %s failed: %s", unit.label, error)
        return UnitResult(unit, "failed", current, current, error, time.perf_counter() - started)
    return UnitResult(unit, "migrated", current, target, None, time.perf_counter() - started)


def known_revision(migrator: TenantMigrator, revision: str) -> bool:
    return migrator.knows(revision)
