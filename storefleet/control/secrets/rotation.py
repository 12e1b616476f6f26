"""Re-encrypt every registered secret under the active key, and count what each key protects.

Control-plane columns are walked in key order, each rewrite committing on its own. Tenant
columns are walked store by store, each batch inside that store's own tenant session
(``tenancy.session``), whatever its placement, so rotation reaches tenant rows only the way
a request does. Every rewrite is a compare-and-swap on the old ciphertext: a secret
written concurrently is never overwritten; the row is read again and retried. Nothing is
held across batches, so an interrupted run leaves each row under the old or the new key,
and running it again finishes the work (rows under the active key are not even selected).

A store whose data cannot be reached is reported by its id, never skipped in silence:
``keys remove`` refuses while any store is unaccounted for.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import TextClause, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from storefleet.control.secrets.registry import (
    AnyEncryptedColumn,
    TenantEncryptedColumn,
    complete_registry,
    control_columns,
    key_header,
    key_id_sql,
    not_under_key_sql,
    tenant_columns,
)
from storefleet.db.engine import database_error_text
from storefleet.errors import DomainError
from storefleet.security.keyring import DecryptionError, Keyring

if TYPE_CHECKING:
    from storefleet.tenancy.session import Tenancy

T = TypeVar("T")
CONTROL_PLANE = "control plane"
UNREADABLE = "(no key id)"
BATCH_SIZE = 200
# A row rewritten by others this many times in a row is left for the next run (and reported).
RACE_ATTEMPTS = 5

ProgressCallback = Callable[[int, int], None]
Transaction = Callable[[], AbstractAsyncContextManager[Any]]


class Keys(Protocol):
    """What rotation uses of the app: the keys, the control plane's engine (its walks
    commit row by row) and the way into each store."""

    keyring: Keyring
    control_engine: AsyncEngine
    tenancy: Tenancy


@dataclass(frozen=True)
class StoreRef:
    store_id: uuid.UUID
    placement: str
    status: str

    @property
    def where(self) -> str:
        return f"store {self.store_id} ({self.placement})"


@dataclass(frozen=True)
class StoreFailure:
    store: StoreRef
    reason: str


@dataclass
class RotationReport:
    """What a run rewrote per column, what it had to leave, and which stores it missed."""

    key_id: str
    rewritten: Counter[str] = field(default_factory=Counter)
    raced: Counter[str] = field(default_factory=Counter)
    unreadable: Counter[str] = field(default_factory=Counter)
    stores: int = 0
    failures: list[StoreFailure] = field(default_factory=list)

    @property
    def total_rewritten(self) -> int:
        return sum(self.rewritten.values())

    @property
    def complete(self) -> bool:
        return not (self.failures or self.raced or self.unreadable)


@dataclass
class KeyUsage:
    """How many secrets each key id protects, by column and by where they are stored."""

    rows: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # kid, column, where
    stores: int = 0
    unreachable: list[StoreFailure] = field(default_factory=list)

    def by_key(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for (kid, _, _), n in self.rows.items():
            counts[kid] += n
        return counts

    def using(self, key_id: str) -> list[tuple[str, str, int]]:
        """``(where, column, count)`` of every place still holding a secret under the key."""
        return sorted((w, col, n) for (kid, col, w), n in self.rows.items() if kid == key_id)


def failure_reason(exc: BaseException) -> str:
    """One line an operator can act on; the database's own words, never a URL or secret."""
    if isinstance(exc, DomainError):
        return exc.detail
    if isinstance(exc, SQLAlchemyError | OSError) or type(exc).__module__.startswith("psycopg"):
        return database_error_text(exc)
    return f"{type(exc).__name__}: {exc}"[:1000]


def _where(store: StoreRef | None) -> str:
    return store.where if store else CONTROL_PLANE


def _select_sql(column: AnyEncryptedColumn, *, tenant: bool, first: bool) -> TextClause:
    k, v = f'"{column.key_column}"', f'"{column.value_column}"'
    where = [not_under_key_sql(column.value_column)]
    if tenant:
        where.append("store_id = :store_id")
    if not first:
        where.append(f"{k} > :after")
    return text(
        f'SELECT {k} AS k, {v} AS v FROM "{column.table}" '  # noqa: S608 (registered names)
        f"WHERE {' AND '.join(where)} ORDER BY {k} LIMIT :limit"
    )


def _one_row(column: AnyEncryptedColumn, *, tenant: bool) -> str:
    store = "store_id = :store_id AND " if tenant else ""
    return f'{store}"{column.key_column}" = :k'


def _swap_sql(column: AnyEncryptedColumn, *, tenant: bool) -> TextClause:
    """The compare-and-swap: only a row that still holds the old ciphertext changes."""
    v = f'"{column.value_column}"'
    return text(
        f'UPDATE "{column.table}" SET {v} = :new '  # noqa: S608
        f"WHERE {_one_row(column, tenant=tenant)} AND {v} = :old"
    )


def _current_sql(column: AnyEncryptedColumn, *, tenant: bool) -> TextClause:
    return text(
        f'SELECT "{column.value_column}" FROM "{column.table}" '  # noqa: S608
        f"WHERE {_one_row(column, tenant=tenant)}"
    )


def _count_sql(column: AnyEncryptedColumn, *, tenant: bool) -> TextClause:
    store = " AND store_id = :store_id" if tenant else ""
    return text(
        f"SELECT {key_id_sql(column.value_column)} AS kid, count(*) AS n "  # noqa: S608
        f'FROM "{column.table}" WHERE "{column.value_column}" IS NOT NULL{store} GROUP BY 1'
    )


def _aad(column: AnyEncryptedColumn, store: StoreRef | None, key: Any) -> bytes:
    if isinstance(column, TenantEncryptedColumn):
        assert store is not None
        return column.associated_data(store.store_id, key).encode("utf-8")
    return column.associated_data(key).encode("utf-8")


@dataclass(frozen=True)
class _ColumnWalk:
    """One encrypted column being rotated, in the control plane or in one store."""

    keyring: Keyring
    column: AnyEncryptedColumn
    store: StoreRef | None
    report: RotationReport

    async def run(self, transaction: Transaction, batch_size: int) -> None:
        """Rewrite the rows not under the active key, a batch per ``transaction()``."""
        tenant = self.store is not None
        header = key_header(self.keyring.active.id)
        after: Any = None
        while True:
            select = _select_sql(self.column, tenant=tenant, first=after is None)
            params = {"header": header, "header_length": len(header), "limit": batch_size}
            params |= {"after": after, "store_id": self.store.store_id if self.store else None}
            async with transaction() as conn:
                rows = (await conn.execute(select, params)).all()
                for row in rows:
                    await self.rotate_row(conn, row.k, bytes(row.v), header)
            if len(rows) < batch_size:
                return
            after = rows[-1].k

    async def rotate_row(self, conn: Any, key: Any, blob: bytes | None, header: bytes) -> None:
        """Swap in the re-encrypted blob. A swap that finds the row changed (a concurrent
        write won) reads it again and retries, so the newer secret is kept and still ends
        up under the active key."""
        tenant = self.store is not None
        row = {"k": key, "store_id": self.store.store_id if self.store else None}
        aad = _aad(self.column, self.store, key)
        label = self.column.label
        for _ in range(RACE_ATTEMPTS):
            if blob is None or blob.startswith(header):
                return
            try:
                new = self.keyring.encrypt(self.keyring.decrypt(blob, aad), aad)
            except DecryptionError:
                self.report.unreadable[f"{label} in {_where(self.store)}"] += 1
                return
            swap = _swap_sql(self.column, tenant=tenant)
            if (await conn.execute(swap, row | {"new": new, "old": blob})).rowcount:
                self.report.rewritten[label] += 1
                return
            found = (await conn.execute(_current_sql(self.column, tenant=tenant), row)).scalar()
            blob = None if found is None else bytes(found)
        self.report.raced[label] += 1


async def list_stores(engine: AsyncEngine) -> list[StoreRef]:
    """Every store that has data somewhere (deleted but not purged ones included)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT store_id, placement, status FROM store_databases ORDER BY store_id")
        )
        return [StoreRef(r.store_id, r.placement, r.status) for r in rows]


async def _for_each_store(
    stores: Sequence[StoreRef],
    work: Callable[[StoreRef], Awaitable[T]],
    done: Callable[[StoreRef, T | Exception], None],
    concurrency: int,
) -> None:
    """``work`` for every store, ``concurrency`` at a time. ``done`` gets each result (or the
    exception it raised) in this coroutine, so an exception from ``done`` ends the run."""
    results: asyncio.Queue[tuple[StoreRef, T | Exception]] = asyncio.Queue()
    pending = iter(stores)

    async def worker() -> None:
        for store in pending:
            try:
                outcome: T | Exception = await work(store)
            except Exception as exc:
                outcome = exc
            await results.put((store, outcome))

    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(stores)))]
    try:
        for _ in stores:
            done(*await results.get())
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def _autocommit(engine: AsyncEngine) -> Transaction:
    return engine.execution_options(isolation_level="AUTOCOMMIT").connect


async def rotate_all(
    runtime: Keys,
    *,
    concurrency: int = 4,
    batch_size: int = BATCH_SIZE,
    on_progress: ProgressCallback | None = None,
) -> RotationReport:
    """Re-encrypt every registered secret, control plane and every store, under the active key.

    ``on_progress(done, total)`` runs after each control-plane column and each store.
    """
    columns = complete_registry()
    keyring, tenancy = runtime.keyring, runtime.tenancy
    report = RotationReport(key_id=keyring.active.id)
    stores = await list_stores(runtime.control_engine)
    report.stores = len(stores)
    control, tenant = control_columns(columns), tenant_columns(columns)
    total, finished = len(control) + len(stores), 0
    for column in control:
        walk = _ColumnWalk(keyring, column, None, report)
        await walk.run(_autocommit(runtime.control_engine), batch_size)
        finished += 1
        if on_progress:
            on_progress(finished, total)

    async def rotate_store(store: StoreRef) -> None:
        def transaction() -> AbstractAsyncContextManager[Any]:
            return tenancy.session(store.store_id, write=True, allow_unready=True)

        for column in tenant:
            await _ColumnWalk(keyring, column, store, report).run(transaction, batch_size)

    def store_done(store: StoreRef, outcome: object) -> None:
        nonlocal finished
        if isinstance(outcome, Exception):
            report.failures.append(StoreFailure(store, failure_reason(outcome)))
        finished += 1
        if on_progress:
            on_progress(finished, total)

    await _for_each_store(stores, rotate_store, store_done, concurrency)
    return report


async def _count_rows(
    conn: Any,
    columns: Iterable[AnyEncryptedColumn],
    usage: KeyUsage,
    store: StoreRef | None = None,
) -> None:
    for column in columns:
        sql = _count_sql(column, tenant=store is not None)
        params = {"store_id": store.store_id if store else None}
        for kid, n in (await conn.execute(sql, params)).all():
            usage.rows[(kid or UNREADABLE, column.label, _where(store))] += n


async def count_control_plane(engine: AsyncEngine) -> KeyUsage:
    """Secrets per key id in the control plane's registered columns (no store is visited)."""
    usage = KeyUsage()
    async with engine.connect() as conn:
        await _count_rows(conn, control_columns(complete_registry()), usage)
    return usage


async def key_usage(
    runtime: Keys, *, concurrency: int = 4, on_progress: ProgressCallback | None = None
) -> KeyUsage:
    """Secrets per key id everywhere: the control plane and the data of every store.

    ``on_progress(done, total)`` runs after each store.
    """
    columns = tenant_columns(complete_registry())
    usage = await count_control_plane(runtime.control_engine)
    stores = await list_stores(runtime.control_engine)
    usage.stores = len(stores)

    async def count_store(store: StoreRef) -> KeyUsage:
        found = KeyUsage()
        async with runtime.tenancy.session(
            store.store_id, write=False, allow_unready=True
        ) as session:
            await _count_rows(session, columns, found, store)
        return found

    finished = 0

    def store_done(store: StoreRef, outcome: KeyUsage | Exception) -> None:
        nonlocal finished
        if isinstance(outcome, Exception):
            usage.unreachable.append(StoreFailure(store, failure_reason(outcome)))
        else:
            usage.rows.update(outcome.rows)
        finished += 1
        if on_progress:
            on_progress(finished, len(stores))

    await _for_each_store(stores, count_store, store_done, concurrency)
    return usage
