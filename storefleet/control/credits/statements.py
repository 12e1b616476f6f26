"""A credit spend as ONE statement: the price, the conditional debit, the ledger row and the
outbox row in data-modifying CTEs, so a spend costs one round trip inside its transaction.

The final row always exists and says what happened (``outcome``):

- ``created``: the balance was debited, the ledger row (returned) and its outbox row written;
- ``replayed``: the idempotency key was already used, the first row is returned, nothing moved;
- ``no_price`` / ``no_balance`` / ``short``: nothing moved (no active price, no balance row,
  the balance is below the price);
- ``lost_race``: a concurrent spend with the same key committed between this statement's
  snapshot and its insert. The debit in this statement already happened, so the caller must
  roll the transaction back and answer with the winner's row.

``bench.credits`` replays this very statement from bare psycopg as its ceiling.
"""

from __future__ import annotations

from sqlalchemy import text

LEDGER_COLUMNS = (
    "id",
    "seq",
    "store_id",
    "account_id",
    "kind",
    "amount",
    "balance_after",
    "idempotency_key",
    "service_key",
    "reference",
    "actor",
    "created_at",
)
# The ledger columns above, spelled out in the statement (and checked by a test).
SPEND_SQL = """
WITH price AS (
    SELECT cost, is_active FROM service_credit_costs
    WHERE service_key = :service AND effective_from <= now()
    ORDER BY effective_from DESC LIMIT 1
), existing AS (
    SELECT id, seq, store_id, account_id, kind, amount, balance_after,
        idempotency_key, service_key, reference, actor, created_at FROM credit_transactions
    WHERE store_id = :store AND idempotency_key = :key
), debit AS (
    UPDATE credit_balances AS b SET balance = b.balance - price.cost, updated_at = now()
    FROM price
    WHERE b.store_id = :store AND price.is_active AND b.balance >= price.cost
      AND NOT EXISTS (SELECT FROM existing)
    RETURNING b.balance, b.account_id, price.cost
), ledger AS (
    INSERT INTO credit_transactions (id, store_id, account_id, kind, amount, balance_after,
        idempotency_key, service_key, reference, actor)
    SELECT :id, :store, debit.account_id, 'spend', -debit.cost, debit.balance, :key, :service,
        jsonb_build_object('service', CAST(:service AS text), 'cost', debit.cost), :actor
    FROM debit
    ON CONFLICT (store_id, idempotency_key) DO NOTHING
    RETURNING id, seq, store_id, account_id, kind, amount, balance_after,
        idempotency_key, service_key, reference, actor, created_at
), outbox AS (
    INSERT INTO credit_outbox (transaction_id, store_id, attempts)
    SELECT id, store_id, 0 FROM ledger
)
SELECT 'created' AS outcome, NULL::integer AS cost,
        id, seq, store_id, account_id, kind, amount, balance_after,
        idempotency_key, service_key, reference, actor, created_at FROM ledger
UNION ALL
SELECT 'replayed', NULL,
        id, seq, store_id, account_id, kind, amount, balance_after,
        idempotency_key, service_key, reference, actor, created_at FROM existing
UNION ALL
SELECT CASE
        WHEN NOT EXISTS (SELECT FROM price WHERE is_active) THEN 'no_price'
        WHEN EXISTS (SELECT FROM debit) THEN 'lost_race'
        WHEN NOT EXISTS (SELECT FROM credit_balances WHERE store_id = :store) THEN 'no_balance'
        ELSE 'short'
    END,
    (SELECT cost FROM price), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
WHERE NOT EXISTS (SELECT FROM ledger) AND NOT EXISTS (SELECT FROM existing)
"""

SPEND = text(SPEND_SQL)
