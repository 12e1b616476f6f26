"""The store's own copy of its credits: the spending log and the cached balance.

The control-plane ledger is the truth; each store keeps a copy its own pages can read
without reaching the control plane. Writes are idempotent (log rows keyed by ledger id, the
cache moved only to a newer ledger sequence), so delivering twice changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.credits.models import CreditBalanceCache, CreditSpendingLog
from storefleet.control.credits.models import CreditTransaction


async def write_to_tenant(
    session: AsyncSession, store_id: uuid.UUID, rows: list[CreditTransaction]
) -> None:
    """Idempotent: log rows keyed by ledger id; cache only ever moves to a newer ``seq``."""
    if not rows:
        return
    await session.execute(
        insert(CreditSpendingLog)
        .values(
            [
                {
                    "store_id": store_id,
                    "id": row.id,
                    "ledger_seq": row.seq,
                    "kind": row.kind,
                    "amount": row.amount,
                    "balance_after": row.balance_after,
                    "service_key": row.service_key,
                    "reference": row.reference,
                    "occurred_at": row.created_at,
                    "account_id": row.account_id,
                }
                for row in rows
            ]
        )
        .on_conflict_do_nothing(index_elements=["store_id", "id"])
    )
    newest = max(rows, key=lambda r: r.seq)
    await upsert_cache(session, store_id, newest.balance_after, newest.seq)


async def upsert_cache(session: AsyncSession, store_id: uuid.UUID, balance: int, seq: int) -> None:
    stmt = insert(CreditBalanceCache).values(
        store_id=store_id,
        id=uuid.uuid4(),
        balance=balance,
        ledger_seq=seq,
        synced_at=datetime.now(UTC),
    )
    await session.execute(
        stmt.on_conflict_do_update(
            constraint="uq_credit_balance_cache_one_per_store",
            set_={
                "balance": stmt.excluded.balance,
                "ledger_seq": stmt.excluded.ledger_seq,
                "synced_at": stmt.excluded.synced_at,
                "updated_at": stmt.excluded.synced_at,
            },
            where=CreditBalanceCache.ledger_seq < stmt.excluded.ledger_seq,
        )
    )


async def cached_balance(session: AsyncSession, store_id: uuid.UUID) -> CreditBalanceCache | None:
    return (
        await session.execute(
            select(CreditBalanceCache).where(CreditBalanceCache.store_id == store_id)
        )
    ).scalar_one_or_none()


@dataclass(frozen=True)
class Repair:
    rows_added: int
    cache_fixed: bool


async def repair(
    session: AsyncSession, store_id: uuid.UUID, ledger: list[CreditTransaction], balance: int
) -> Repair:
    """Make the store's log and cache equal its ledger (``ledger`` in ``seq`` order)."""
    have = set(
        (
            await session.execute(
                select(CreditSpendingLog.id).where(CreditSpendingLog.store_id == store_id)
            )
        ).scalars()
    )
    missing = [row for row in ledger if row.id not in have]
    if missing:
        await write_to_tenant(session, store_id, missing)
    cache = await cached_balance(session, store_id)
    last_seq = ledger[-1].seq if ledger else 0
    fix = cache is None or cache.balance != balance or cache.ledger_seq != last_seq
    if fix:
        await session.execute(
            text("DELETE FROM credit_balance_cache WHERE store_id = :s"), {"s": store_id}
        )
        await upsert_cache(session, store_id, balance, last_seq)
    return Repair(len(missing), fix)
