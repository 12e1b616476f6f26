"""A move whose process died leaves the store paused; start-up recovery resumes it."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient

from storefleet.control.placements.move_recovery import abandon_dead_moves
from storefleet.db.urls import libpq_conninfo
from storefleet.testing import PLACEMENTS, Stores
from tests.tenancy.move_helpers import call, runtime_of


def _stuck_move(control_conn: psycopg.Connection, store_id: str) -> str:
    move_id = str(uuid.uuid4())
    control_conn.execute(
        "INSERT INTO store_moves (id, store_id, source, target, phase, status) "
        "VALUES (%s, %s, %s, %s, 'copied', 'running')",
        (move_id, store_id, json.dumps({}), json.dumps({})),
    )
    control_conn.execute(
        "UPDATE store_databases SET writes_paused = true WHERE store_id = %s", (store_id,)
    )
    return move_id


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_dead_mover_is_abandoned_and_writes_resume(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, placement: str
) -> None:
    store = stores.create(placement)
    store_id = str(store["id"])
    move_id = _stuck_move(control_conn, store_id)
    runtime = runtime_of(client)
    runtime.tenancy.invalidate()
    paused = client.patch(
        f"/api/stores/{store_id}/profile", headers=store["headers"], json={"description": "x"}
    )
    assert paused.status_code == 503 and paused.headers["Retry-After"]

    assert call(client, abandon_dead_moves, runtime) == [uuid.UUID(store_id)]
    status = control_conn.execute(
        "SELECT status FROM store_moves WHERE id = %s", (move_id,)
    ).fetchone()
    assert status == ("abandoned",)
    resumed = client.patch(
        f"/api/stores/{store_id}/profile", headers=store["headers"], json={"description": "y"}
    )
    assert resumed.status_code == 200, resumed.text


def test_live_mover_is_left_alone(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    store = stores.create("schema")
    store_id = str(store["id"])
    move_id = _stuck_move(control_conn, store_id)
    runtime = runtime_of(client)

    async def source_url():  # type: ignore[no-untyped-def]
        return await runtime.tenancy.admin_url(
            await runtime.tenancy.placement(uuid.UUID(store_id), fresh=True)
        )

    with psycopg.connect(libpq_conninfo(call(client, source_url)), autocommit=True) as mover:
        mover.execute("SELECT pg_advisory_lock(hashtextextended(%s, 7301))", (store_id,))
        assert call(client, abandon_dead_moves, runtime) == []
    assert control_conn.execute(
        "SELECT status FROM store_moves WHERE id = %s", (move_id,)
    ).fetchone() == ("running",)
    control_conn.execute("UPDATE store_moves SET status = 'failed' WHERE id = %s", (move_id,))
    control_conn.execute(
        "UPDATE store_databases SET writes_paused = false WHERE store_id = %s", (store_id,)
    )
