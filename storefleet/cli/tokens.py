"""``storefleet tokens``: housekeeping of access tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from storefleet.cli.common import cli_console, with_runtime
from storefleet.config import get_settings

if TYPE_CHECKING:
    from storefleet.runtime import Runtime

tokens_app = typer.Typer(help="Access tokens", no_args_is_help=True)
console = cli_console()


@tokens_app.command("prune")
def prune() -> None:
    """Delete revoked tokens that have expired (the server also does this periodically)."""
    from storefleet.control.accounts.revocations import prune_revoked_tokens

    async def work(runtime: Runtime) -> int:
        return await prune_revoked_tokens(runtime.control_sessions)

    removed = with_runtime(get_settings(), work)
    console.print(f"removed {removed} expired revoked tokens")
