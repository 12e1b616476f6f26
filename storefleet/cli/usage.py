"""``storefleet usage``: fill daily store metrics from the tenants, prune old request logs."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from storefleet.cli.common import cli_console, with_runtime
from storefleet.config import get_settings

if TYPE_CHECKING:
    from storefleet.runtime import Runtime

usage_app = typer.Typer(help="API usage and daily store metrics", no_args_is_help=True)
console = cli_console()


def _day(raw: str | None) -> date:
    if raw is None:
        return datetime.now(UTC).date() - timedelta(days=1)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        console.print(f"[red]--day must be YYYY-MM-DD, got {raw!r}[/red]")
        raise typer.Exit(2) from None


@usage_app.command("aggregate")
def aggregate(
    day: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: yesterday, UTC)")] = None,
    store: Annotated[list[str] | None, typer.Option("--store")] = None,
) -> None:
    """Count products, the day's orders and storage per store into usage_metrics.

    Storage is the store's own schema in schema/database placement; in pool placement it
    is 0 (shared tables have no per-store size).
    """
    from storefleet.control.usage.daily import AggregateReport, aggregate_day

    target = _day(day)
    ids = [uuid.UUID(s) for s in store] if store else None

    async def work(runtime: Runtime) -> AggregateReport:
        return await aggregate_day(runtime, target, ids)

    report = with_runtime(get_settings(), work)
    console.print(f"{target}: aggregated {report.stores} stores")
    for store_id, error in report.failed:
        console.print(f"[red]{store_id}: {error}[/red]")
    if report.failed:
        raise typer.Exit(1)


@usage_app.command("prune")
def prune(
    days: Annotated[
        int | None, typer.Option(min=1, help="keep this many days (default: the setting)")
    ] = None,
) -> None:
    """Delete API usage logs older than the retention (the server also does this hourly)."""
    from storefleet.control.usage.service import prune as prune_logs

    settings = get_settings()
    keep = days or settings.usage_log_retention_days

    async def work(runtime: Runtime) -> int:
        return await prune_logs(runtime.control_sessions, keep)

    removed = with_runtime(settings, work)
    console.print(f"removed {removed} usage log rows older than {keep} days")
