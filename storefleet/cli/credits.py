"""``storefleet credits``: check the ledger, repair tenant copies, grant credits, set prices."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from storefleet.cli.common import cli_console, with_runtime
from storefleet.config import get_settings

if TYPE_CHECKING:
    from storefleet.runtime import Runtime

credits_app = typer.Typer(help="The credit ledger", no_args_is_help=True)
costs_app = typer.Typer(help="Service prices in credits", no_args_is_help=True)
credits_app.add_typer(costs_app, name="costs")
console = cli_console()


@credits_app.command("verify")
def verify() -> None:
    """Check every store: balance = sum of its ledger, never below zero. Exit 1 on a mismatch."""
    from storefleet.control.credits.service import verify as verify_ledger

    async def work(runtime: Runtime) -> list[object]:
        async with runtime.control_sessions() as session:
            return list(await verify_ledger(session))

    mismatches = with_runtime(get_settings(), work)
    if not mismatches:
        console.print("[green]ledger consistent for every store[/green]")
        return
    table = Table("store", "balance", "ledger sum", "last balance_after", "negative rows")
    for m in mismatches:
        table.add_row(
            str(m.store_id),  # type: ignore[attr-defined]
            str(m.balance),  # type: ignore[attr-defined]
            str(m.ledger_sum),  # type: ignore[attr-defined]
            str(m.last_balance_after),  # type: ignore[attr-defined]
            str(m.negative_rows),  # type: ignore[attr-defined]
        )
    console.print(table)
    raise typer.Exit(1)


@credits_app.command("reconcile")
def reconcile(store: Annotated[list[str] | None, typer.Option("--store")] = None) -> None:
    """Make every tenant's credit log and cached balance equal the ledger."""
    from storefleet.control.credits.outbox import reconcile as run

    ids = [uuid.UUID(s) for s in store] if store else None

    async def work(runtime: Runtime) -> object:
        return await run(runtime, ids)

    report = with_runtime(get_settings(), work)
    console.print(
        f"checked {report.stores} stores: added {report.rows_added} log rows, "  # type: ignore[attr-defined]
        f"fixed {report.caches_fixed} cached balances"  # type: ignore[attr-defined]
    )


@credits_app.command("deliver")
def deliver() -> None:
    """Deliver pending ledger rows to tenant copies now (the server does this continuously)."""
    from storefleet.control.credits.outbox import deliver_all

    async def work(runtime: Runtime) -> object:
        return await deliver_all(runtime)

    report = with_runtime(get_settings(), work)
    console.print(f"delivered {report.delivered}; failed stores: {len(report.failed)}")  # type: ignore[attr-defined]
    if report.failed:  # type: ignore[attr-defined]
        raise typer.Exit(1)


@credits_app.command("grant")
def grant(
    store_id: str,
    amount: Annotated[int, typer.Argument(min=1)],
    reason: Annotated[str, typer.Option(help="why (kept in the ledger)")] = "platform grant",
    key: Annotated[str | None, typer.Option(help="idempotency key")] = None,
) -> None:
    """Grant credits to a store (a platform administrator's ledger entry)."""
    from storefleet.control.credits.service import grant as grant_credits
    from storefleet.errors import DomainError

    async def work(runtime: Runtime) -> int:
        posted = await grant_credits(
            runtime.control_sessions,
            uuid.UUID(store_id),
            amount,
            idempotency_key=key or f"cli-grant:{uuid.uuid4()}",
            actor="cli",
            reference={"reason": reason},
        )
        return posted.transaction.balance_after

    try:
        balance = with_runtime(get_settings(), work)
    except (DomainError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"granted {amount}; balance now {balance}")


@costs_app.command("list")
def costs_list() -> None:
    """Every service price (latest first per service)."""
    from storefleet.control.credits.service import list_costs

    async def work(runtime: Runtime) -> list[tuple[str, ...]]:
        async with runtime.control_sessions() as session:
            return [
                (
                    c.service_key,
                    str(c.cost),
                    "yes" if c.is_active else "no",
                    c.effective_from.isoformat(),
                    c.description,
                )
                for c in await list_costs(session)
            ]

    table = Table("service", "cost", "active", "effective from", "description")
    for row in with_runtime(get_settings(), work):
        table.add_row(*row)
    console.print(table)


@costs_app.command("set")
def costs_set(
    service: str,
    cost: Annotated[int, typer.Argument(min=1)],
    description: str = "",
    inactive: Annotated[bool, typer.Option("--inactive")] = False,
) -> None:
    """Set the price of a service from now on (history is kept)."""
    from storefleet.control.credits.service import set_cost

    async def work(runtime: Runtime) -> None:
        async with runtime.control_sessions() as session, session.begin():
            await set_cost(session, service, cost, description=description, is_active=not inactive)

    try:
        with_runtime(get_settings(), work)
    except Exception as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"{service} now costs {cost} credits")
