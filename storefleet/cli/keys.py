"""``storefleet keys``: encryption and signing keys, and rotating every stored secret.

``rotate`` and ``remove`` visit the control plane and the data of every store (see
``storefleet.control.secrets.rotation``); both show progress, since a fleet of stores takes
a while, and both name every store they could not reach.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from storefleet.cli.common import cli_console, with_runtime
from storefleet.config import get_settings

if TYPE_CHECKING:
    from storefleet.control.secrets.rotation import (
        KeyUsage,
        ProgressCallback,
        RotationReport,
        StoreFailure,
    )
    from storefleet.runtime import Runtime

keys_app = typer.Typer(help="Encryption and signing keys", no_args_is_help=True)
console = cli_console()

DETAIL_ROWS = 50
Concurrency = Annotated[int, typer.Option(min=1, max=64, help="stores visited at the same time")]


@contextmanager
def progress_bar(label: str) -> Iterator[ProgressCallback]:
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def print_failures(failures: list[StoreFailure], title: str) -> None:
    table = Table("store", "placement", "status", "error", title=title)
    for failure in failures[:DETAIL_ROWS]:
        store = failure.store
        table.add_row(str(store.store_id), store.placement, store.status, failure.reason)
    console.print(table)
    if len(failures) > DETAIL_ROWS:
        console.print(f"… and {len(failures) - DETAIL_ROWS} more")


@keys_app.command("list")
def keys_list() -> None:
    """List key ids (never the keys), the active one first."""
    from storefleet.security import keystore

    material = keystore.load_or_create(get_settings().home)
    table = Table("kind", "key id", "active")
    for i, key in enumerate(material.keyring_keys):
        table.add_row("keyring", key.id, "yes" if i == 0 else "")
    for i, (kid, _) in enumerate(material.jwt_keys):
        table.add_row("jwt", kid, "yes" if i == 0 else "")
    console.print(table)


@keys_app.command("generate")
def keys_generate() -> None:
    """Add a new encryption key and make it the active one (then run ``keys rotate``)."""
    from storefleet.security import keystore

    key = keystore.add_keyring_key(get_settings().home)
    console.print(f"new active key [bold]{key.id}[/bold]; run `storefleet keys rotate` next")


@keys_app.command("rotate")
def keys_rotate(concurrency: Concurrency = 4) -> None:
    """Re-encrypt every stored secret, in the control plane and in every store, under the
    active key. Safe while serving; run it again after an interruption or a failure.

    Exit code 1 when a store could not be reached or a secret was left behind.
    """
    from storefleet.control.secrets.rotation import rotate_all

    async def work(runtime: Runtime) -> RotationReport:
        with progress_bar("re-encrypting secrets") as advance:
            return await rotate_all(runtime, concurrency=concurrency, on_progress=advance)

    report = with_runtime(get_settings(), work)
    table = Table("column", "re-encrypted", title=f"under key {report.key_id}")
    for label, count in sorted(report.rewritten.items()):
        table.add_row(label, str(count))
    if report.rewritten:
        console.print(table)
    console.print(
        f"re-encrypted {report.total_rewritten} secrets under {report.key_id}; "
        f"{report.stores} stores visited"
    )
    for label, count in sorted(report.raced.items()):
        console.print(f"[yellow]{count} {label} kept changing during the run[/yellow]")
    for label, count in sorted(report.unreadable.items()):
        console.print(f"[red]{count} {label} cannot be decrypted with any key[/red]")
    if report.failures:
        print_failures(report.failures, "stores not rotated")
    if not report.complete:
        console.print("[red]rotation incomplete: run `storefleet keys rotate` again[/red]")
        raise typer.Exit(1)


def _check_removable(key_id: str) -> None:
    """Refuse an unknown or the active key before visiting any store."""
    from storefleet.security import keystore

    ids = [k.id for k in keystore.load_or_create(get_settings().home).keyring_keys]
    if key_id not in ids:
        console.print(f"[red]Unknown keyring key id {key_id!r}.[/red]")
        raise typer.Exit(1)
    if ids[0] == key_id:
        console.print(f"[red]{key_id} is the active key; generate a new key first.[/red]")
        raise typer.Exit(1)


def _print_usage(usage: KeyUsage, key_id: str) -> None:
    places = usage.using(key_id)
    table = Table("where", "column", "secrets", title=f"still under {key_id}")
    for where, column, count in places[:DETAIL_ROWS]:
        table.add_row(where, column, str(count))
    console.print(table)
    if len(places) > DETAIL_ROWS:
        console.print(f"… and {len(places) - DETAIL_ROWS} more places")


@keys_app.command("remove")
def keys_remove(key_id: str, concurrency: Concurrency = 4) -> None:
    """Remove an old encryption key once no stored secret uses it, in the control plane or
    in any store. Refused while a store cannot be reached (it might still use the key)."""
    from storefleet.control.secrets.rotation import key_usage
    from storefleet.security import keystore

    _check_removable(key_id)

    async def work(runtime: Runtime) -> KeyUsage:
        with progress_bar("checking stores") as advance:
            return await key_usage(runtime, concurrency=concurrency, on_progress=advance)

    usage = with_runtime(get_settings(), work)
    in_use = usage.by_key().get(key_id, 0)
    if in_use:
        _print_usage(usage, key_id)
        console.print(f"[red]{in_use} secrets still use {key_id}; run `keys rotate` first[/red]")
    if usage.unreachable:
        print_failures(usage.unreachable, f"stores that may still use {key_id}")
        console.print(
            f"[red]{len(usage.unreachable)} stores could not be reached, so {key_id} may "
            "still protect their secrets; once they answer (or are deleted), run "
            "`keys rotate` and `keys remove` again[/red]"
        )
    if in_use or usage.unreachable:
        raise typer.Exit(1)
    try:
        keystore.remove_keyring_key(get_settings().home, key_id)
    except Exception as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print(f"removed key {key_id} ({usage.stores} stores checked)")
