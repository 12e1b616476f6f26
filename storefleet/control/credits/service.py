"""The credit ledger: exact under concurrency, idempotent, never negative.

Every change is one control-plane transaction that (1) moves the balance with a conditional
UPDATE (``balance + amount >= 0``), (2) appends the ledger row, unique per store and
idempotency key, and (3) queues the row in the outbox for the store's tenant copy. The same
idempotency key twice returns the first row and changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storefleet.control.credits.models import (
    CreditBalance,
    CreditOutbox,
    CreditTransaction,
    ServiceCreditCost,
)
from storefleet.control.credits.statements import LEDGER_COLUMNS, SPEND
from storefleet.db.ids import uuid7
from storefleet.db.queries import Rows, paged
from storefleet.errors import InvalidInput, NotFound, PaymentRequired

MAX_IDEMPOTENCY_KEY = 200


class InsufficientCredits(PaymentRequired):
    code = "insufficient-credits"
    title = "Not enough credits"


class _Short(Exception):
    pass


class _LostRace(Exception):
    pass


@dataclass(frozen=True)
class Posted:
    transaction: CreditTransaction
    created: bool


async def ensure_balance(session: AsyncSession, store_id: uuid.UUID, account_id: uuid.UUID) -> None:
    await session.execute(
        insert(CreditBalance)
        .values(store_id=store_id, account_id=account_id, balance=0)
        .on_conflict_do_nothing(index_elements=["store_id"])
    )


async def balance_of(session: AsyncSession, store_id: uuid.UUID) -> CreditBalance:
    row = await session.get(CreditBalance, store_id)
    if row is None:
        raise NotFound("This store has no credit balance")
    return row


async def current_cost(
    session: AsyncSession, service_key: str, *, at: datetime | None = None
) -> ServiceCreditCost:
    """The price in force for ``service_key``: the latest active row already in effect."""
    row = (
        await session.execute(
            select(ServiceCreditCost)
            .where(
                ServiceCreditCost.service_key == service_key,
                ServiceCreditCost.effective_from <= (at or datetime.now(UTC)),
            )
            .order_by(ServiceCreditCost.effective_from.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if row is None or not row.is_active:
        raise NotFound(f"No active price for service {service_key!r}", field="service")
    return row


async def _existing(
    session: AsyncSession, store_id: uuid.UUID, idempotency_key: str
) -> CreditTransaction | None:
    return (
        await session.execute(
            select(CreditTransaction).where(
                CreditTransaction.store_id == store_id,
                CreditTransaction.idempotency_key == idempotency_key,
            )
        )
    ).scalar_one_or_none()


def check_idempotency_key(key: str) -> str:
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise InvalidInput(
            f"idempotency_key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters",
            field="idempotency_key",
        )
    return key


async def post(
    session: AsyncSession,
    *,
    store_id: uuid.UUID,
    kind: str,
    amount: int,
    idempotency_key: str,
    actor: str,
    service_key: str | None = None,
    reference: dict[str, Any] | None = None,
) -> Posted:
    """Append one ledger row inside the caller's control-plane transaction."""
    check_idempotency_key(idempotency_key)
    if amount == 0:
        raise InvalidInput("amount must not be zero", field="amount")
    existing = await _existing(session, store_id, idempotency_key)
    if existing is not None:
        return Posted(existing, False)
    try:
        async with session.begin_nested():
            moved = (
                await session.execute(
                    text(
                        "UPDATE credit_balances SET balance = balance + :amount, "
                        "updated_at = now() WHERE store_id = :store AND balance + :amount >= 0 "
                        "RETURNING balance, account_id"
                    ),
                    {"amount": amount, "store": store_id},
                )
            ).first()
            if moved is None:
                raise _Short
            inserted = (
                await session.execute(
                    insert(CreditTransaction)
                    .values(
                        id=uuid.uuid4(),
                        store_id=store_id,
                        account_id=moved.account_id,
                        kind=kind,
                        amount=amount,
                        balance_after=moved.balance,
                        idempotency_key=idempotency_key,
                        service_key=service_key,
                        reference=reference or {},
                        actor=actor,
                    )
                    .on_conflict_do_nothing(index_elements=["store_id", "idempotency_key"])
                    .returning(CreditTransaction.id)
                )
            ).scalar_one_or_none()
            if inserted is None:
                raise _LostRace
    except _Short:
        if await session.get(CreditBalance, store_id) is None:
            raise NotFound("This store has no credit balance") from None
        raise InsufficientCredits(
            f"This needs {-amount} credits; the store's balance is too low", needed=-amount
        ) from None
    except _LostRace:
        # The same key won a race in another transaction: our debit is undone, answer as it did.
        existing = await _existing(session, store_id, idempotency_key)
        assert existing is not None
        return Posted(existing, False)
    session.add(CreditOutbox(transaction_id=inserted, store_id=store_id))
    await session.flush()
    tx = await session.get(CreditTransaction, inserted)
    assert tx is not None
    return Posted(tx, True)


async def spend(
    control_sessions: async_sessionmaker[AsyncSession],
    store_id: uuid.UUID,
    service_key: str,
    *,
    idempotency_key: str,
    actor: str = "system",
) -> Posted:
    """``await credits.spend(store, "service.key", idempotency_key=...)``: one atomic debit,
    one statement (``statements.SPEND``)."""
    params = {
        "id": uuid7(),
        "store": store_id,
        "key": check_idempotency_key(idempotency_key),
        "service": service_key,
        "actor": actor,
    }
    engine: AsyncEngine = control_sessions.kw["bind"]  # Core: no unit of work to set up
    try:
        async with engine.begin() as conn:
            row = (await conn.execute(SPEND, params)).one()
            if row.outcome == "lost_race":
                raise _LostRace  # rolls our debit back
    except _LostRace:
        async with control_sessions() as session, session.begin():
            existing = await _existing(session, store_id, idempotency_key)
            assert existing is not None
            return Posted(existing, False)
    if row.outcome in ("created", "replayed"):
        ledger = CreditTransaction(**{name: getattr(row, name) for name in LEDGER_COLUMNS})
        return Posted(ledger, row.outcome == "created")
    if row.outcome == "no_price":
        raise NotFound(f"No active price for service {service_key!r}", field="service")
    if row.outcome == "no_balance":
        raise NotFound("This store has no credit balance")
    raise InsufficientCredits(
        f"This needs {row.cost} credits; the store's balance is too low", needed=row.cost
    )


async def grant(
    control_sessions: async_sessionmaker[AsyncSession],
    store_id: uuid.UUID,
    amount: int,
    *,
    kind: str = "grant",
    idempotency_key: str,
    actor: str,
    reference: dict[str, Any] | None = None,
) -> Posted:
    if amount <= 0:
        raise InvalidInput("amount must be positive", field="amount")
    async with control_sessions() as session, session.begin():
        return await post(
            session,
            store_id=store_id,
            kind=kind,
            amount=amount,
            idempotency_key=idempotency_key,
            actor=actor,
            reference=reference,
        )


async def transactions(
    session: AsyncSession, store_id: uuid.UUID, *, limit: int, offset: int
) -> Rows[CreditTransaction]:
    """The store's ledger, newest first."""
    return await paged(
        session,
        select(CreditTransaction)
        .where(CreditTransaction.store_id == store_id)
        .order_by(CreditTransaction.seq.desc()),
        limit=limit,
        offset=offset,
    )


@dataclass(frozen=True)
class Mismatch:
    store_id: uuid.UUID
    balance: int
    ledger_sum: int
    last_balance_after: int | None
    negative_rows: int


async def verify(session: AsyncSession) -> list[Mismatch]:
    """Every store whose balance differs from the sum of its ledger, or dipped below zero."""
    rows = await session.execute(
        text(
            """
            SELECT b.store_id, b.balance,
                   coalesce(sum(t.amount), 0) AS ledger_sum,
                   (SELECT t2.balance_after FROM credit_transactions t2
                     WHERE t2.store_id = b.store_id ORDER BY t2.seq DESC LIMIT 1) AS last_after,
                   count(*) FILTER (WHERE t.balance_after < 0) AS negative_rows
            FROM credit_balances b
            LEFT JOIN credit_transactions t ON t.store_id = b.store_id
            GROUP BY b.store_id, b.balance
            """
        )
    )
    out = []
    for store_id, balance, ledger_sum, last_after, negative in rows:
        if (
            balance != ledger_sum
            or negative
            or (last_after is not None and last_after != balance)
            or balance < 0
        ):
            out.append(Mismatch(store_id, balance, int(ledger_sum), last_after, int(negative)))
    return out


async def set_cost(
    session: AsyncSession,
    service_key: str,
    cost: int,
    *,
    description: str = "",
    is_active: bool = True,
    effective_from: datetime | None = None,
) -> ServiceCreditCost:
    if cost <= 0:
        raise InvalidInput("cost must be a positive number of credits", field="cost")
    row = ServiceCreditCost(
        service_key=service_key,
        cost=cost,
        description=description,
        is_active=is_active,
        effective_from=effective_from or datetime.now(UTC),
    )
    session.add(row)
    await session.flush()
    return row


async def list_costs(session: AsyncSession) -> list[ServiceCreditCost]:
    rows = await session.execute(
        select(ServiceCreditCost).order_by(
            ServiceCreditCost.service_key, ServiceCreditCost.effective_from.desc()
        )
    )
    return list(rows.scalars())
