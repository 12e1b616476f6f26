"""Moving stores between placements: data identical, old copy gone, one move at a time."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.control.placements.moves import move_store
from storefleet.control.placements.store_files import store_location
from storefleet.errors import Conflict
from storefleet.testing import Stores, make_settings
from tests.tenancy.move_helpers import (
    add_staff,
    call,
    count_rows_anywhere,
    edit_profile,
    fingerprint,
    placement_row,
    runtime_of,
    staff_count,
)


def database_exists(admin_url: Any, name: str) -> bool:
    from storefleet.db.urls import libpq_conninfo

    with psycopg.connect(libpq_conninfo(admin_url.set(database="postgres")), autocommit=True) as c:
        return (
            c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def test_round_trip_pool_schema_database_pool(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    runtime = runtime_of(client)
    store = stores.create("pool")
    sid = uuid.UUID(str(store["id"]))
    neighbour = stores.create("pool")
    nid = uuid.UUID(str(neighbour["id"]))
    edit_profile(client, store, description="Before any move", city="Lyon", settings={"a": [1]})
    call(client, add_staff, runtime, sid, 5, "first")
    call(client, add_staff, runtime, nid, 2, "neighbour")
    neighbour_before = call(client, fingerprint, runtime, nid)
    pool_loc = call(client, store_location, runtime, sid)

    before = call(client, fingerprint, runtime, sid)
    assert before["users"].rows == 6
    assert before["stores"].rows == 1 and before["store_configs"].rows == 1

    report = call(client, move_store, runtime, sid, placement="schema")
    assert report.status == "completed" and report.leftover is None
    assert report.tables == {k: v.as_dict() for k, v in before.items()}
    assert placement_row(control_conn, sid)[0] == "schema"
    assert call(client, fingerprint, runtime, sid) == before
    assert count_rows_anywhere(pool_loc.admin_url, "pool", sid) == 0
    assert call(client, fingerprint, runtime, nid) == neighbour_before
    schema_loc = call(client, store_location, runtime, sid)

    # Writes work on the new placement, through the API and directly.
    edit_profile(client, store, description="In a schema")
    call(client, add_staff, runtime, sid, 3, "second")
    before = call(client, fingerprint, runtime, sid)
    assert before["users"].rows == 9

    report = call(client, move_store, runtime, sid, placement="database")
    assert report.status == "completed" and report.leftover is None
    row = placement_row(control_conn, sid)
    assert row[0] == "database" and row[2] == f"store_{sid.hex}" and row[3] == "tenant"
    assert call(client, fingerprint, runtime, sid) == before
    assert count_rows_anywhere(schema_loc.admin_url, schema_loc.schema, sid) is None
    db_loc = call(client, store_location, runtime, sid)

    edit_profile(client, store, description="In its own database")
    before = call(client, fingerprint, runtime, sid)

    report = call(client, move_store, runtime, sid, placement="pool")
    assert placement_row(control_conn, sid)[:4] == (
        "pool",
        pool_loc_server(control_conn),
        pool_loc.admin_url.database,
        "pool",
    )
    assert call(client, fingerprint, runtime, sid) == before
    assert not database_exists(db_loc.admin_url, f"store_{sid.hex}")
    assert call(client, staff_count, runtime, sid) == 9
    profile = client.get(f"/api/stores/{sid}/profile", headers=store["headers"]).json()
    assert profile["description"] == "In its own database" and profile["city"] == "Lyon"
    assert call(client, fingerprint, runtime, nid) == neighbour_before
    moves = control_conn.execute(
        "SELECT status, phase, target->>'placement' FROM store_moves WHERE store_id = %s "
        "ORDER BY started_at",
        (sid,),
    ).fetchall()
    assert moves == [
        ("completed", "done", "schema"),
        ("completed", "done", "database"),
        ("completed", "done", "pool"),
    ]


def pool_loc_server(conn: psycopg.Connection) -> Any:
    row = conn.execute("SELECT id FROM database_servers WHERE is_default").fetchone()
    assert row is not None
    return row[0]


def test_move_through_the_api(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    runtime = runtime_of(client)
    store = stores.create("schema")
    sid = uuid.UUID(str(store["id"]))
    edit_profile(client, store, description="api move")
    before = call(client, fingerprint, runtime, sid)

    response = client.post(
        f"/api/stores/{sid}/move", headers=store["headers"], json={"placement": "database"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["store"]["placement"] == "database"
    move = body["move"]
    assert move["status"] == "completed"
    assert move["from"]["placement"] == "schema" and move["to"]["placement"] == "database"
    assert move["to"]["server"] == "default"
    assert move["tables"]["users"] == before["users"].as_dict()
    assert call(client, fingerprint, runtime, sid) == before

    again = client.post(
        f"/api/stores/{sid}/move", headers=store["headers"], json={"placement": "database"}
    )
    assert again.status_code == 409, again.text
    unknown = client.post(
        f"/api/stores/{sid}/move",
        headers=store["headers"],
        json={"placement": "database", "server": "nowhere"},
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "server"
    bad = client.post(
        f"/api/stores/{sid}/move", headers=store["headers"], json={"placement": "cloud"}
    )
    assert bad.status_code == 422
    assert placement_row(control_conn, sid)[0] == "database"

    other = stores.create("pool")
    foreign = client.post(
        f"/api/stores/{sid}/move", headers=other["headers"], json={"placement": "pool"}
    )
    assert foreign.status_code == 404


def test_a_running_move_blocks_another_and_refuses_a_no_op(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    runtime = runtime_of(client)
    store = stores.create("pool")
    sid = uuid.UUID(str(store["id"]))
    with pytest.raises(Conflict):
        call(client, move_store, runtime, sid, placement="pool")
    control_conn.execute(
        "INSERT INTO store_moves (id, store_id, source, target, phase, status) "
        "VALUES (%s, %s, '{}', '{}', 'paused', 'running')",
        (uuid.uuid4(), sid),
    )
    response = client.post(
        f"/api/stores/{sid}/move", headers=store["headers"], json={"placement": "schema"}
    )
    assert response.status_code == 409
    assert "already running" in response.json()["detail"]
    assert placement_row(control_conn, sid)[0] == "pool"


def test_moves_are_rate_limited_per_store(
    settings: Settings, control_db: URL, stores: Stores, control_conn: psycopg.Connection
) -> None:
    limited = make_settings(Path(settings.home), control_db, move_min_interval_seconds=3600)
    store, neighbour = stores.create("pool"), stores.create("pool")
    sid = uuid.UUID(str(store["id"]))
    with TestClient(create_app(limited, control_db), raise_server_exceptions=False) as other:

        def move(target: dict[str, Any], placement: str) -> Any:
            return other.post(
                f"/api/stores/{target['id']}/move",
                headers=target["headers"],
                json={"placement": placement},
            )

        first = move(store, "schema")
        assert first.status_code == 200, first.text
        again = move(store, "pool")
        assert again.status_code == 429, again.text
        assert again.headers["content-type"].startswith("application/problem+json")
        assert again.json()["type"].endswith("/rate-limited")
        assert 3500 <= int(again.headers["Retry-After"]) <= 3600
        assert placement_row(control_conn, sid)[0] == "schema"

        # Per store: another store of the same owner moves.
        assert move(neighbour, "schema").status_code == 200

        # Once the interval has passed, the store moves again.
        control_conn.execute(
            "UPDATE store_moves SET started_at = started_at - interval '2 hours' "
            "WHERE store_id = %s",
            (sid,),
        )
        later = move(store, "pool")
        assert later.status_code == 200, later.text
    assert placement_row(control_conn, sid)[0] == "pool"
