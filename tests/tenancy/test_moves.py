"""Moving stores between placements: data identical, old copy gone, failures harmless."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.commerce.users.models import TenantUser
from storefleet.config import Settings
from storefleet.errors import Conflict, ServiceUnavailable
from storefleet.runtime import Runtime
from storefleet.tenancy.copy import TableStat, connect, store_stats
from storefleet.tenancy.moves import move_store, store_location
from storefleet.testing import Stores, make_settings

T = TypeVar("T")


class Boom(RuntimeError):
    pass


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def call(client: TestClient, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run a coroutine function on the app's event loop (its engines live there)."""
    return client.portal.call(functools.partial(fn, *args, **kwargs))  # type: ignore[union-attr]


async def fingerprint(runtime: Runtime, store_id: uuid.UUID) -> dict[str, TableStat]:
    location = await store_location(runtime, store_id)
    async with await connect(location.admin_url) as conn:
        return await store_stats(conn, location.schema, store_id)


async def add_staff(runtime: Runtime, store_id: uuid.UUID, n: int, tag: str) -> None:
    async with runtime.tenancy.session(store_id, write=True) as s:
        for i in range(n):
            s.add(
                TenantUser(
                    store_id=store_id,
                    email=f"{tag}-{i}@example.com",
                    first_name=f"Staff {i}",
                    role="staff",
                    account_type="staff",
                )
            )


async def staff_count(runtime: Runtime, store_id: uuid.UUID) -> int:
    async with runtime.tenancy.session(store_id, write=False) as s:
        return int(
            await s.scalar(select(func.count()).select_from(TenantUser)) or 0  # type: ignore[arg-type]
        )


def placement_row(conn: psycopg.Connection, store_id: object) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT placement, server_id, database_name, schema_name, writes_paused, status "
        "FROM store_databases WHERE store_id = %s",
        (store_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def last_move(conn: psycopg.Connection, store_id: object) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT phase, status, error FROM store_moves WHERE store_id = %s "
        "ORDER BY started_at DESC LIMIT 1",
        (store_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def edit_profile(client: TestClient, store: dict[str, Any], **changes: object) -> None:
    response = client.patch(
        f"/api/stores/{store['id']}/profile", headers=store["headers"], json=changes
    )
    assert response.status_code == 200, response.text


def count_rows_anywhere(admin_url: Any, schema: str, store_id: uuid.UUID) -> int | None:
    """Rows of the store in ``schema`` as superuser; None when the schema is gone."""
    from storefleet.db.urls import libpq_conninfo

    with psycopg.connect(libpq_conninfo(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        if not exists:
            return None
        row = conn.execute(
            f'SELECT count(*) FROM "{schema}".users WHERE store_id = %s',
            (store_id,),
        ).fetchone()
        assert row is not None
        return int(row[0])


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


PHASES = ["planned", "paused", "prepared", "copied:stores", "verified", "flip"]
PHASE_REACHED = {
    "planned": "planned",
    "paused": "paused",
    "prepared": "prepared",
    "copied:stores": "prepared",
    "verified": "copied",
    "flip": "copied",
}


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize(("source", "target"), [("pool", "database"), ("database", "schema")])
def test_failure_in_each_phase_leaves_the_store_intact(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    phase: str,
    source: str,
    target: str,
) -> None:
    runtime = runtime_of(client)
    store = stores.create(source)
    sid = uuid.UUID(str(store["id"]))
    call(client, add_staff, runtime, sid, 3, "staff")
    before = call(client, fingerprint, runtime, sid)
    row_before = placement_row(control_conn, sid)

    def fault(name: str, store_id: uuid.UUID) -> None:
        if name == phase:
            raise Boom(f"injected at {name}")

    with pytest.raises(Boom):
        call(client, move_store, runtime, sid, placement=target, fault=fault)

    assert placement_row(control_conn, sid) == row_before
    assert row_before[4] is False
    reached, status, error = last_move(control_conn, sid)
    assert status == "failed" and "injected" in error
    assert reached == PHASE_REACHED[phase]
    assert call(client, fingerprint, runtime, sid) == before
    edit_profile(client, store, description=f"written after a failure at {phase}")
    call(client, add_staff, runtime, sid, 1, "after")
    after = call(client, fingerprint, runtime, sid)
    assert after["users"].rows == before["users"].rows + 1

    report = call(client, move_store, runtime, sid, placement=target)
    assert report.status == "completed"
    assert placement_row(control_conn, sid)[0] == target
    assert call(client, fingerprint, runtime, sid) == after


def test_failure_after_flip_keeps_the_store_on_its_new_placement(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    runtime = runtime_of(client)
    store = stores.create("schema")
    sid = uuid.UUID(str(store["id"]))
    before = call(client, fingerprint, runtime, sid)
    old = call(client, store_location, runtime, sid)

    def fault(name: str, store_id: uuid.UUID) -> None:
        if name == "flipped":
            raise Boom("cannot drop")

    report = call(client, move_store, runtime, sid, placement="pool", fault=fault)
    assert report.status == "completed"
    assert report.leftover and "cannot drop" in report.leftover
    assert placement_row(control_conn, sid)[0] == "pool"
    assert call(client, fingerprint, runtime, sid) == before
    assert count_rows_anywhere(old.admin_url, old.schema, sid) == 1  # the leftover, reported
    stored = control_conn.execute(
        "SELECT report->>'leftover' FROM store_moves WHERE id = %s", (report.id,)
    ).fetchone()
    assert stored is not None and "cannot drop" in stored[0]
    edit_profile(client, store, description="still writable")


def test_writes_answer_503_and_reads_work_while_a_move_holds_the_lock(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    runtime = runtime_of(client)
    store = stores.create("pool")
    sid = uuid.UUID(str(store["id"]))
    seen: dict[str, object] = {}

    async def check(name: str, store_id: uuid.UUID) -> None:
        if name != "copied:users":
            return
        with pytest.raises(ServiceUnavailable) as paused:
            async with runtime.tenancy.session(store_id, write=True):
                pass
        seen["retry_after"] = paused.value.retry_after
        # Another process whose cache still says "not paused" is stopped by the lock.
        stale = dataclasses.replace(await runtime.tenancy.placement(store_id), writes_paused=False)
        with pytest.raises(ServiceUnavailable):
            async with runtime.tenancy.session(stale, write=True):
                pass
        seen["staff"] = await staff_count(runtime, store_id)
        with pytest.raises(Conflict):
            await move_store(runtime, store_id, placement="database")

    def run_check(name: str, store_id: uuid.UUID) -> Awaitable[None]:
        return check(name, store_id)

    report = call(client, move_store, runtime, sid, placement="schema", fault=run_check)
    assert report.status == "completed"
    assert seen["retry_after"] and seen["staff"] == 1
    edit_profile(client, store, description="writes are back")


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
