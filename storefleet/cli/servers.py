"""``storefleet servers``: the PostgreSQL servers that host ``database`` stores."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from storefleet.cli.common import cli_console, with_runtime
from storefleet.config import get_settings

if TYPE_CHECKING:
    from storefleet.runtime import Runtime

servers_app = typer.Typer(
    help="Database servers for database-placement stores", no_args_is_help=True
)
console = cli_console()


@servers_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="short name: lowercase letters, digits, dashes")],
    url: Annotated[str, typer.Argument(help="superuser URL, e.g. postgresql://u:p@host:5432/db")],
    capacity: Annotated[int, typer.Option(min=1, help="most database stores it may hold")] = 1000,
) -> None:
    """Register a server (it must answer and run PostgreSQL 15 or newer)."""
    from storefleet.control.servers import service
    from storefleet.errors import DomainError

    async def work(runtime: Runtime) -> int | None:
        async with runtime.control_sessions() as session, session.begin():
            server = await service.add_server(
                session, runtime.keyring, name=name, admin_url=url, capacity=capacity
            )
            return server.server_version

    try:
        version = with_runtime(get_settings(), work)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    shown = f"{version // 10000}.{version % 10000}" if version else "?"
    console.print(f"added server [bold]{name}[/bold] (PostgreSQL {shown}, capacity {capacity})")


@servers_app.command("list")
def list_servers() -> None:
    """Servers with their load; URLs are never printed (they hold passwords)."""
    from storefleet.control.servers import service

    async def work(runtime: Runtime) -> list[tuple[str, ...]]:
        async with runtime.control_sessions() as session:
            rows = await service.servers_with_load(session)
        return [
            (
                server.name,
                server.status,
                str(server.capacity),
                str(load),
                "yes" if server.is_default else "",
                str(server.server_version or ""),
            )
            for server, load in rows
        ]

    table = Table("name", "status", "capacity", "database stores", "default", "version")
    for row in with_runtime(get_settings(), work):
        table.add_row(*row)
    console.print(table)
