"""``storefleet``: serve the API and administer the platform from a terminal."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.engine import URL

from storefleet import __version__
from storefleet.cli.common import cli_console
from storefleet.cli.common import migrated_control_url as _migrated_control_url
from storefleet.cli.common import with_runtime as _with_runtime
from storefleet.cli.credits import credits_app
from storefleet.cli.keys import keys_app
from storefleet.cli.servers import servers_app
from storefleet.cli.stores import stores_app
from storefleet.cli.tenants import tenants_app
from storefleet.cli.tokens import tokens_app
from storefleet.cli.usage import usage_app
from storefleet.config import (
    WORKER_CONTROL_URL_ENV,
    WORKER_RECOVERY_TICKET_ENV,
    configure_logging,
    get_settings,
)

app = typer.Typer(help="storefleet: multi-tenant commerce platform", no_args_is_help=True)
db_app = typer.Typer(help="Control-plane database migrations", no_args_is_help=True)
accounts_app = typer.Typer(help="Platform accounts", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(accounts_app, name="accounts")
app.add_typer(tenants_app, name="tenants")
app.add_typer(credits_app, name="credits")
app.add_typer(stores_app, name="stores")
app.add_typer(servers_app, name="servers")
app.add_typer(usage_app, name="usage")
app.add_typer(tokens_app, name="tokens")

console = cli_console()


@app.command()
def version() -> None:
    """Print the storefleet version."""
    console.print(f"storefleet {__version__}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Worker processes serving the API [default: the number of CPUs]",
            show_default=False,
        ),
    ] = None,
    proxy_headers: Annotated[
        bool | None,
        typer.Option(
            "--proxy-headers/--no-proxy-headers",
            help="Take the client address from X-Forwarded-For sent by a trusted proxy "
            "[default: STOREFLEET_PROXY_HEADERS, off]",
            show_default=False,
        ),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated proxy addresses or networks trusted with --proxy-headers, "
            "'*' for any [default: STOREFLEET_FORWARDED_ALLOW_IPS, 127.0.0.1]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Start PostgreSQL if needed, migrate, and serve the API."""
    import uvicorn

    settings = get_settings()
    overrides: dict[str, object] = {}
    if proxy_headers is not None:
        overrides["proxy_headers"] = proxy_headers
    if forwarded_allow_ips is not None:
        overrides["forwarded_allow_ips"] = forwarded_allow_ips
    settings = settings.model_copy(update=overrides)
    if forwarded_allow_ips is not None and not settings.proxy_headers:
        console.print("[yellow]--forwarded-allow-ips has no effect without --proxy-headers[/]")
    configure_logging(settings)
    # Once, here: worker processes get the resolved URL and never start or migrate a server.
    url = _migrated_control_url(settings)
    # uvicorn shuts down gracefully on SIGTERM and then raises the signal again; with the
    # default handler that kills the process before exit hooks run, leaving the embedded
    # PostgreSQL up. Raised again into this handler, the process exits cleanly instead.
    # (With several workers uvicorn's supervisor takes SIGTERM itself, stops the workers
    # and returns: the exit hooks, which stop the embedded server, run here, in the parent.)
    signal.signal(signal.SIGTERM, _exit_after_shutdown)
    options: dict[str, object] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level.lower(),
        # The app applies the proxy headers itself (create_app), only when configured.
        "proxy_headers": False,
        # uvicorn[standard] ships both; "auto" would silently fall back to the slow ones.
        "http": "httptools",
        "loop": "uvloop",
        "server_header": False,
    }
    count = workers or os.cpu_count() or 1
    if count == 1:
        from storefleet.api.app import create_app

        uvicorn.run(create_app(settings, url), **options)  # type: ignore[arg-type]
        return
    with _worker_environment(url, overrides):
        uvicorn.run(
            "storefleet.api.app:create_app_from_env",
            factory=True,
            workers=count,
            # uvicorn kills a worker that does not answer its ping within this, and a worker
            # still importing the app on a busy machine took longer than the default 5 s.
            timeout_worker_healthcheck=30,
            **options,  # type: ignore[arg-type]
        )


@contextlib.contextmanager
def _worker_environment(url: URL, overrides: dict[str, object]) -> Iterator[None]:
    """What the worker processes inherit: the migrated control URL, the flags given here as
    settings, and the ticket one of them takes to run the start-up recovery."""
    fd, ticket = tempfile.mkstemp(prefix="storefleet-recovery-")
    os.close(fd)
    os.environ[WORKER_CONTROL_URL_ENV] = url.render_as_string(hide_password=False)
    os.environ[WORKER_RECOVERY_TICKET_ENV] = ticket
    for name, value in overrides.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        os.environ[f"STOREFLEET_{name.upper()}"] = text
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(ticket)


def _exit_after_shutdown(signum: int, frame: object) -> None:
    raise SystemExit(0)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending control-plane migration."""
    from storefleet.db.migrate import control_status

    settings = get_settings()
    url = _migrated_control_url(settings)
    status = control_status(url)
    console.print(f"control plane at [bold]{status.current}[/bold] (head {status.head})")


@db_app.command("status")
def db_status() -> None:
    """Show the control-plane revision against the head of the history."""
    from storefleet.db.engine import control_url
    from storefleet.db.migrate import control_status

    status = control_status(control_url(get_settings()))
    state = "[green]up to date[/green]" if status.at_head else "[yellow]behind[/yellow]"
    console.print(f"current: {status.current or '-'}\nhead:    {status.head}\n{state}")
    if not status.at_head:
        raise typer.Exit(1)


@accounts_app.command("create")
def accounts_create(
    email: str,
    first_name: Annotated[str, typer.Option("--first-name")] = "",
    last_name: Annotated[str, typer.Option("--last-name")] = "",
    admin: Annotated[bool, typer.Option("--admin", help="platform administrator")] = False,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
) -> None:
    """Create an account (an agency, or a platform administrator with --admin)."""
    from storefleet.control.accounts import service
    from storefleet.errors import DomainError
    from storefleet.runtime import Runtime

    async def work(runtime: Runtime) -> str:
        async with runtime.control_sessions() as session, session.begin():
            account = await service.create_account(
                session,
                email=email,
                password=password,
                first_name=first_name,
                last_name=last_name,
                account_type="platform_admin" if admin else "agency",
                actor_label="cli",
            )
            return str(account.id)

    try:
        account_id = _with_runtime(get_settings(), work)
    except DomainError as exc:
        console.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(1) from None
    console.print(f"created account {account_id}")


@accounts_app.command("list")
def accounts_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
) -> None:
    """List accounts."""
    from storefleet.control.accounts import service
    from storefleet.runtime import Runtime

    async def work(runtime: Runtime) -> list[tuple[str, ...]]:
        async with runtime.control_sessions() as session:
            rows = await service.list_accounts(session, limit=limit, offset=offset)
            return [
                (
                    str(a.id),
                    a.email,
                    f"{a.first_name} {a.last_name}".strip(),
                    a.account_type,
                    "yes" if a.is_active else "no",
                )
                for a in rows
            ]

    table = Table("id", "email", "name", "type", "active")
    for row in _with_runtime(get_settings(), work):
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    app()
