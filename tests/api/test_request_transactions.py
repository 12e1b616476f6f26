"""A request that works in a store holds no control-plane transaction meanwhile.

A store's data may be slow (a row lock, a busy owner database). If authorization left its
control-plane transaction open while the route waited in the tenant, every such request
would pin a control connection "idle in transaction" — and a few slow stores would drain
the control pool for the whole platform.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.db.urls import libpq_conninfo
from storefleet.testing import PLACEMENTS, Stores


def _control_idle_in_transaction(control_conn: psycopg.Connection, control: URL) -> int:
    row = control_conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
        "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()",
        (control.database,),
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("who", ["owner", "staff"])
def test_admin_request_waiting_in_the_tenant_holds_no_control_transaction(
    client: TestClient,
    stores: Stores,
    pg_server: URL,
    control_db: URL,
    control_conn: psycopg.Connection,
    placement: str,
    who: str,
) -> None:
    store = stores.create(placement)
    base = f"/api/stores/{store['id']}"
    headers = store["headers"]
    if who == "staff":
        email = f"staff-{store['slug']}@example.com"
        password = "Staff-Passw0rd!x"
        added = client.post(
            f"{base}/staff",
            headers=headers,
            json={
                "email": email,
                "first_name": "S",
                "last_name": "T",
                "role": "admin",
                "password": password,
            },
        )
        assert added.status_code == 201, added.text
        login = client.post(
            "/api/auth/staff/login",
            json={"store_id": store["id"], "email": email, "password": password},
        )
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
    created = client.post(f"{base}/categories", headers=headers, json={"name": "Shoes"})
    assert created.status_code == 201, created.text
    category_id = created.json()["id"]
    database, schema = control_conn.execute(
        "SELECT database_name, schema_name FROM store_databases WHERE store_id = %s",
        (store["id"],),
    ).fetchone()  # type: ignore[misc]

    answers: list[int] = []
    with psycopg.connect(libpq_conninfo(pg_server.set(database=database))) as locker:
        locker.execute(
            f'SELECT 1 FROM "{schema}".categories WHERE id = %s FOR UPDATE', (category_id,)
        )

        def patch() -> None:
            r = client.patch(
                f"{base}/categories/{category_id}", headers=headers, json={"name": "Boots"}
            )
            answers.append(r.status_code)

        worker = threading.Thread(target=patch)
        worker.start()
        # Wait until the PATCH is blocked on the row lock in the tenant.
        deadline = time.monotonic() + 10
        blocked = False
        while time.monotonic() < deadline and not blocked:
            row = locker.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND a.datname = %s",
                (database,),
            ).fetchone()
            blocked = bool(row and row[0])
            time.sleep(0.05)
        assert blocked, "the PATCH never reached the tenant row lock"
        held = _control_idle_in_transaction(control_conn, control_db)
        locker.rollback()
    worker.join(timeout=30)
    assert answers == [200]
    assert held == 0, f"{held} control-plane transaction(s) held open during tenant work"
