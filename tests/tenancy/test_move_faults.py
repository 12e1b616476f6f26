"""A move failing in any phase leaves the store intact; writes wait out the move's lock."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from storefleet.control.placements.moves import move_store
from storefleet.control.placements.store_files import store_location
from storefleet.errors import Conflict, ServiceUnavailable
from storefleet.testing import Stores
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


class Boom(RuntimeError):
    pass


def last_move(conn: psycopg.Connection, store_id: object) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT phase, status, error FROM store_moves WHERE store_id = %s "
        "ORDER BY started_at DESC LIMIT 1",
        (store_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


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
