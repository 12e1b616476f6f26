"""``storefleet tenants``: the tenant schema across every store (migrate, status)."""

from __future__ import annotations

import uuid
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from storefleet.cli.common import cli_console, with_runtime
from storefleet.config import get_settings

if TYPE_CHECKING:
    from storefleet.control.placements.fleet import FleetReport
    from storefleet.runtime import Runtime
    from storefleet.tenancy.fleet_runner import UnitResult

tenants_app = typer.Typer(help="Tenant schemas of every store", no_args_is_help=True)
console = cli_console()

EXIT_FAILED = 1
EXIT_CHANGED_MIGRATION = 2
DETAIL_ROWS = 200


class PlacementChoice(StrEnum):
    pool = "pool"
    schema = "schema"
    database = "database"


@tenants_app.command("migrate")
def migrate(
    to: Annotated[str, typer.Option("--to", help="target revision")] = "head",
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="databases migrated at the same time")
    ] = 4,
    store: Annotated[
        list[uuid.UUID] | None, typer.Option("--store", help="only this store (repeatable)")
    ] = None,
    placement: Annotated[
        list[PlacementChoice] | None,
        typer.Option("--placement", help="only stores in this placement (repeatable)"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="report, change nothing")] = False,
    migrations: Annotated[
        Path | None,
        typer.Option(
            "--migrations",
            hidden=True,
            exists=True,
            file_okay=False,
            help="tenant history directory (to rehearse an unreleased revision)",
        ),
    ] = None,
) -> None:
    """Bring every store's tenant schema (and the template databases) to a revision.

    Exit code 1 when a store failed (it keeps its old revision and data), 2 when an
    applied migration file changed since it ran (nothing is touched).
    """
    from storefleet.control.placements.fleet import migrate_fleet
    from storefleet.runtime import tenant_metadata
    from storefleet.tenancy.migrations import ChangedMigrationError, TenantMigrator

    migrator = TenantMigrator(location=migrations, metadata=tenant_metadata) if migrations else None

    async def work(runtime: Runtime) -> FleetReport:
        with Progress(
            TextColumn("[bold]tenant schemas"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("migrate", total=None)

            def on_progress(result: UnitResult, done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            return await migrate_fleet(
                runtime,
                target=to,
                concurrency=concurrency,
                store_ids=store or None,
                placements=[p.value for p in placement] if placement else None,
                dry_run=dry_run,
                on_progress=on_progress,
                migrator=migrator,
            )

    try:
        report = with_runtime(get_settings(), work)
    except ChangedMigrationError as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(EXIT_CHANGED_MIGRATION) from None
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(EXIT_FAILED) from None
    print_report(report)
    if report.failed:
        raise typer.Exit(EXIT_FAILED)


def print_report(report: FleetReport) -> None:
    summary = Table("outcome", "units", "stores", title=f"target {report.target}")
    for outcome in ("migrated", "would_migrate", "current", "skipped", "failed"):
        results = report.having(outcome)
        if results or outcome in ("migrated", "current", "failed"):
            label = outcome.replace("_", " ")
            if outcome == "current":
                label = "already at target"
            stores = sum(len(r.unit.store_ids) for r in results)
            style = "red" if outcome == "failed" and results else None
            summary.add_row(label, str(len(results)), str(stores), style=style)
    console.print(summary)
    details = [r for r in report.results if r.outcome != "current"]
    details.sort(key=lambda r: (r.outcome != "failed", r.unit.label))
    if details:
        table = Table("unit", "outcome", "revision", "error")
        for r in details[:DETAIL_ROWS]:
            revision = (
                f"{r.from_revision or '-'} → {r.to_revision or '-'}"
                if r.from_revision != r.to_revision
                else (r.from_revision or "-")
            )
            table.add_row(r.unit.label, r.outcome.replace("_", " "), revision, r.error or "")
        console.print(table)
        if len(details) > DETAIL_ROWS:
            console.print(f"… and {len(details) - DETAIL_ROWS} more")
    extra = []
    if report.stores_not_ready:
        extra.append(f"{report.stores_not_ready} stores not ready (provisioning brings them)")
    if report.recorded_checksums:
        extra.append(f"recorded checksums of {', '.join(report.recorded_checksums)}")
    extra.append(f"{report.seconds:.2f}s")
    console.print("; ".join(extra))


@tenants_app.command("status")
def status() -> None:
    """Stores per placement and revision, failed provisionings and last errors.

    Exit code 1 when a ready store is not at head or a provisioning failed.
    """
    from storefleet.control.placements.status import FleetStatus, fleet_status
    from storefleet.runtime import tenant_migrator

    head = tenant_migrator().head

    async def work(runtime: Runtime) -> FleetStatus:
        async with runtime.control_sessions() as s:
            return await fleet_status(s, detail_rows=DETAIL_ROWS)

    found = with_runtime(get_settings(), work)
    counts, troubled, recorded = found.counts, found.troubled, found.recorded
    console.print(f"tenant head: [bold]{head}[/bold] ({recorded} applied revisions checksummed)")
    table = Table("placement", "revision", "status", "stores")
    behind = False
    for placement, revision, state, n in counts:
        style = None
        if state == "ready" and revision != head:
            behind, style = True, "yellow"
        if state == "failed":
            style = "red"
        table.add_row(placement, revision or "-", state, str(n), style=style)
    console.print(table)
    failed = any(row.status == "failed" for row in troubled)
    if troubled:
        errors = Table("store", "placement", "status", "step", "revision", "last error")
        for row in troubled:
            errors.add_row(
                str(row.store_id),
                row.placement,
                row.status,
                row.step or "-",
                row.schema_revision or "-",
                row.last_error or "",
            )
        console.print(errors)
    if behind:
        console.print("[yellow]some stores are behind: run `storefleet tenants migrate`[/yellow]")
    if failed:
        console.print("[red]failed provisionings: run `storefleet stores provision --resume`[/red]")
    if behind or failed:
        raise typer.Exit(EXIT_FAILED)
