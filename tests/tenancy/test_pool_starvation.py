"""One pool store's slow requests cannot starve the other stores of the shared engine.

Pool and schema stores of a server share one engine. Store A's requests are made slow for
real: a row they must update is locked from outside, so each waits in PostgreSQL. Without
per-transaction timeouts and a shared pool sized apart (with overflow), four of them hold
every connection and store B waits for as long as A's lock lasts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.db.urls import libpq_conninfo
from storefleet.testing import Accounts, Stores, make_settings

TIMEOUT = 2.0
SLOW_REQUESTS = 4


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path_factory.mktemp("starve-home"),
        control_db,
        tenant_shared_pool_size=SLOW_REQUESTS,
        tenant_shared_max_overflow=2,
        tenant_statement_timeout_seconds=TIMEOUT,
        tenant_lock_timeout_seconds=TIMEOUT,
        rate_limit_enabled=False,
    )
    with TestClient(create_app(settings, control_db), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("placement", ["pool", "schema"])
def test_slow_requests_of_one_store_do_not_hold_up_another(
    small_pool: TestClient,
    pg_server: URL,
    control_conn: psycopg.Connection,
    placement: str,
) -> None:
    stores = Stores(small_pool, Accounts(small_pool))
    slow, other = stores.create(placement), stores.create(placement)
    made = small_pool.post(
        f"/api/stores/{slow['id']}/categories", headers=slow["headers"], json={"name": "Hats"}
    )
    assert made.status_code == 201, made.text
    category = made.json()["id"]
    database, schema = control_conn.execute(
        "SELECT database_name, schema_name FROM store_databases WHERE store_id = %s",
        (slow["id"],),
    ).fetchone()  # type: ignore[misc]

    answers: list[Any] = []

    def patch(i: int) -> None:
        r = small_pool.patch(
            f"/api/stores/{slow['id']}/categories/{category}",
            headers=slow["headers"],
            json={"name": f"Caps {i}"},
        )
        answers.append((r.status_code, r.headers.get("retry-after"), r.json()))

    with psycopg.connect(libpq_conninfo(pg_server.set(database=database))) as locker:
        locker.execute(f'SELECT 1 FROM "{schema}".categories WHERE id = %s FOR UPDATE', (category,))
        workers = [threading.Thread(target=patch, args=(i,)) for i in range(SLOW_REQUESTS)]
        for w in workers:
            w.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            row = locker.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND database = "
                "(SELECT oid FROM pg_database WHERE datname = %s)",
                (database,),
            ).fetchone()
            if row and row[0] >= SLOW_REQUESTS:
                break
            time.sleep(0.05)
        started = time.monotonic()
        fast = small_pool.get(f"/api/stores/{other['id']}/profile", headers=other["headers"])
        waited = time.monotonic() - started
        for w in workers:
            w.join(timeout=30)
        locker.rollback()
    assert fast.status_code == 200, fast.text
    assert waited < TIMEOUT, f"store B waited {waited:.2f}s behind store A's slow requests"
    # A's requests ended at the timeout with a clear, retryable answer, not a 500.
    assert len(answers) == SLOW_REQUESTS
    for status, retry_after, body in answers:
        assert status == 503 and retry_after, body
        assert "busy" in body["detail"]
