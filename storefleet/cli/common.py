"""What every ``storefleet`` command shares: a migrated control plane and a runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from rich.console import Console

from storefleet.config import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from storefleet.runtime import Runtime

T = TypeVar("T")
PIPED_WIDTH = 240


def cli_console() -> Console:
    """The console of a command. Piped output (logs, CI, scripts) is at least 240 columns
    wide rather than Rich's 80, so store ids and errors in tables come out whole."""
    console = Console()
    if not console.is_terminal:
        return Console(width=max(console.width, PIPED_WIDTH))
    return console


def migrated_control_url(settings: Settings, *, stop_at_exit: bool = True) -> URL:
    """The control database (embedded server started if needed), upgraded to head.

    One query tells when it is at head already; only then is Alembic (which imports every
    revision and every control model) left unloaded.
    """
    from storefleet.db.engine import control_url
    from storefleet.db.migrate import upgrade_control

    url = control_url(settings, stop_at_exit=stop_at_exit)
    if not control_at_head(url):
        upgrade_control(url)
    return url


def control_at_head(url: URL) -> bool:
    """Whether the control database's one recorded revision is the history's plain head."""
    import psycopg

    from storefleet.db.history import read_history
    from storefleet.db.migrate import migrations_root
    from storefleet.db.urls import libpq_conninfo

    history = read_history(migrations_root() / "control" / "versions")
    if history is None:
        return False
    try:
        with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except psycopg.errors.UndefinedTable:
        return False
    return rows == [(history.head,)]


def with_runtime(settings: Settings, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run ``work(runtime)`` on a fresh event loop, closing the runtime afterwards."""
    from storefleet.runtime import Runtime

    url = migrated_control_url(settings)

    async def run() -> T:
        runtime = Runtime.build(settings, url)
        await runtime.start()
        try:
            return await work(runtime)
        finally:
            await runtime.aclose()

    return asyncio.run(run())
