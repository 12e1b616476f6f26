"""``storefleet stores plan``: a platform administrator puts a store on any plan.

No payment is asked; the change is in the audit log (``subscription.plan_set``) and the
plan's included credits are granted once per billing period, however often it is repeated.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from storefleet.cli.common import cli_console, with_runtime
from storefleet.config import get_settings

if TYPE_CHECKING:
    from storefleet.control.billing.plans import AdminSet
    from storefleet.runtime import Runtime

console = cli_console()


def set_plan(
    store_id: Annotated[uuid.UUID, typer.Argument(help="the store")],
    plan: Annotated[str, typer.Argument(help="plan code (free, starter, ...)")],
    cycle: Annotated[
        Literal["monthly", "annual"], typer.Option("--cycle", help="billing cycle")
    ] = "monthly",
) -> None:
    """Set a store's plan without payment (platform administrators). Exit 1 on a refusal."""
    from storefleet.control.billing import plans
    from storefleet.control.billing.stripe_gateway import PaymentProviderError, StripeGateway
    from storefleet.errors import DomainError

    settings = get_settings()

    async def work(runtime: Runtime) -> tuple[AdminSet, str | None]:
        async with runtime.control_sessions() as session, session.begin():
            result = await plans.admin_set(
                session, store_id, plan, cycle, actor_label="platform-admin:cli"
            )
        runtime.plan_limits.invalidate(store_id)
        replaced = result.replaced_provider_subscription
        if replaced is None:
            return result, None
        try:
            await StripeGateway.from_settings(settings).cancel_subscription(replaced)
        except DomainError as exc:
            return result, exc.detail
        except PaymentProviderError as exc:
            return result, exc.reason
        return result, None

    try:
        result, cancel_error = with_runtime(settings, work)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    sub = result.subscription
    console.print(
        f"store {store_id} is on {result.plan.code} ({sub.billing_cycle}) from "
        f"{sub.current_period_start:%Y-%m-%d %H:%M} to {sub.current_period_end:%Y-%m-%d %H:%M} UTC"
    )
    if result.granted is None:
        console.print("the plan includes no credits")
    elif result.granted.created:
        console.print(f"granted {result.granted.transaction.amount} included credits")
    else:
        console.print("included credits for this period were already granted")
    replaced = result.replaced_provider_subscription
    if replaced is None:
        return
    if cancel_error is not None:
        console.print(
            f"[yellow]Stripe subscription {replaced} no longer bills this plan but could not be "
            f"cancelled ({cancel_error}): cancel it in Stripe[/yellow]"
        )
        raise typer.Exit(1)
    console.print(f"cancelled Stripe subscription {replaced}")
