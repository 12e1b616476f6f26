"""``storefleet stores``: operations on stores' data (provisioning)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from storefleet.cli.common import cli_console, with_runtime
from storefleet.cli.plans import set_plan
from storefleet.config import get_settings

if TYPE_CHECKING:
    from storefleet.runtime import Runtime

stores_app = typer.Typer(help="Stores and their data", no_args_is_help=True)
console = cli_console()


@stores_app.command("provision")
def provision(
    store_id: Annotated[
        uuid.UUID | None, typer.Argument(help="the store to provision (or --resume)")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="finish every pending or failed provisioning")
    ] = False,
) -> None:
    """Run (or finish) provisioning: every step is idempotent, so a retry completes it.

    Exit code 1 when a store could not be provisioned.
    """
    if (store_id is None) == (not resume):
        console.print("[red]give either a STORE_ID or --resume[/red]")
        raise typer.Exit(2)

    async def work(runtime: Runtime) -> list[tuple[uuid.UUID, str | None]]:
        if store_id is None:
            return await runtime.provisioner.resume_all()
        try:
            await runtime.provisioner.provision(store_id)
        except Exception as exc:
            detail = getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
            return [(store_id, str(detail))]
        return [(store_id, None)]

    results = with_runtime(get_settings(), work)
    if not results:
        console.print("nothing to provision")
        return
    table = Table("store", "result", "error")
    for sid, error in results:
        table.add_row(
            str(sid), "[red]failed[/red]" if error else "[green]ready[/green]", error or ""
        )
    console.print(table)
    if any(error for _, error in results):
        raise typer.Exit(1)


@stores_app.command("move")
def move(
    store_id: Annotated[uuid.UUID, typer.Argument(help="the store to move")],
    to: Annotated[str, typer.Option("--to", help="pool, schema or database")],
    server: Annotated[
        str | None, typer.Option("--server", help="target server (database placement)")
    ] = None,
) -> None:
    """Move a store's data to another placement or server; writes pause while it copies."""
    from storefleet.control.placements.move_plan import MoveReport
    from storefleet.control.placements.moves import move_store
    from storefleet.errors import DomainError
    from storefleet.tenancy.datacopy import VerificationError

    async def work(runtime: Runtime) -> MoveReport:
        return await move_store(
            runtime, store_id, placement=to, server_name=server, rate_limit=False
        )

    try:
        report = with_runtime(get_settings(), work)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    except VerificationError as exc:
        console.print(f"[red]the copy did not verify; the store was not moved: {exc}[/red]")
        raise typer.Exit(1) from None
    rows = sum(int(t["rows"]) for t in report.tables.values())
    console.print(
        f"moved {store_id} to {report.target['placement']}"
        f"{' on ' + report.target['server'] if report.target['server'] else ''}: "
        f"{rows} rows in {len(report.tables)} tables verified, {report.seconds:.2f}s "
        f"(writes paused {report.paused_seconds:.2f}s)"
    )
    if report.leftover:
        console.print(f"[yellow]{report.leftover}[/yellow]")


@stores_app.command("export")
def export(
    store_id: Annotated[uuid.UUID, typer.Argument(help="the store to export")],
    file: Annotated[Path, typer.Argument(help="the file to write (a zip)")],
) -> None:
    """Write the store's rows, with counts and checksums, to one file."""
    from storefleet.control.placements.store_files import export_to_file
    from storefleet.errors import DomainError

    async def work(runtime: Runtime) -> dict[str, object]:
        return await export_to_file(runtime, store_id, file)

    try:
        manifest = with_runtime(get_settings(), work)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    tables = manifest["tables"]
    assert isinstance(tables, list)
    rows = sum(int(t["rows"]) for t in tables)
    console.print(f"exported {rows} rows in {len(tables)} tables to {file}")


@stores_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="a file written by `stores export`")],
) -> None:
    """Restore an export into its store's current placement, which must be empty.

    The store must exist in this control plane.
    """
    from storefleet.control.placements.store_files import import_from_file
    from storefleet.errors import DomainError
    from storefleet.tenancy.datacopy import TableStat, VerificationError

    async def work(runtime: Runtime) -> tuple[uuid.UUID, dict[str, TableStat]]:
        return await import_from_file(runtime, file)

    try:
        store_id, stats = with_runtime(get_settings(), work)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    except VerificationError as exc:
        console.print(f"[red]the import does not match its manifest, nothing loaded: {exc}[/red]")
        raise typer.Exit(1) from None
    rows = sum(s.rows for s in stats.values())
    console.print(f"imported {rows} rows in {len(stats)} tables into store {store_id}; verified")


@stores_app.command("purge")
def purge(
    store_id: Annotated[
        uuid.UUID | None, typer.Argument(help="a deleted store to purge (or --deleted-before)")
    ] = None,
    deleted_before: Annotated[
        float | None,
        typer.Option("--deleted-before", help="purge every store deleted over DAYS ago"),
    ] = None,
) -> None:
    """Remove deleted stores for good: their data in every placement, then their records.

    The slug of a purged store can be used again. Exit code 1 when a store could not be
    purged (its data unreachable: run the command again later).
    """
    from storefleet.control.stores.purge import PurgeResult, purge_store
    from storefleet.control.stores.purge import deleted_before as deleted_ago
    from storefleet.errors import DomainError

    if (store_id is None) == (deleted_before is None):
        console.print("[red]give either a STORE_ID or --deleted-before DAYS[/red]")
        raise typer.Exit(2)

    async def work(runtime: Runtime) -> list[PurgeResult]:
        ids = [store_id] if store_id else await deleted_ago(runtime, deleted_before or 0)
        return [await purge_store(runtime, sid) for sid in ids]

    try:
        results = with_runtime(get_settings(), work)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    if not results:
        console.print("nothing to purge")
        return
    table = Table("store", "slug", "result")
    for r in results:
        table.add_row(
            str(r.store_id), r.slug, f"[red]{r.error}[/red]" if r.error else "[green]purged[/green]"
        )
    console.print(table)
    if any(r.error for r in results):
        raise typer.Exit(1)


stores_app.command("plan")(set_plan)
