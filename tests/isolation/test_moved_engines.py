"""After a move, every process writes to the store's new location, never the old one.

Two runtimes (two app processes, one control plane). A store lives on its owner's
database A; the second runtime has a pooled engine for it. The store then moves to the
owner's database B on another server, *with the same database name* — the engine slot
(``external:<store>/<database>``) is the same. The second runtime hears of the move through
the routing notification and must write to B: an engine reused by slot alone would still
point at A (where the store's rows were just removed and its role's grants revoked).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.db.urls import libpq_conninfo, libpq_uri
from storefleet.testing import Stores, admin_execute, drop_database, unique_name
from tests.scramserver import ScramServer


@pytest.fixture
def same_name(pg_server: URL, scram_pg: ScramServer) -> Iterator[str]:
    name = unique_name("owner_same")
    admin_execute(pg_server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    scram_pg.create_database(name)
    yield name
    drop_database(pg_server, name)
    scram_pg.drop_database(name)


@pytest.fixture
def second_process(settings: Settings, control_db: URL) -> Iterator[TestClient]:
    with TestClient(create_app(settings, control_db), raise_server_exceptions=False) as c:
        yield c


def _descriptions(conninfo: str, store_id: str) -> list[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT description FROM tenant.stores WHERE store_id = %s", (store_id,)
        ).fetchall()
    return [r[0] for r in rows]


def test_second_runtime_writes_to_the_new_owner_database(
    client: TestClient,
    second_process: TestClient,
    stores: Stores,
    pg_server: URL,
    scram_pg: ScramServer,
    same_name: str,
) -> None:
    store = stores.create("pool")
    profile = f"/api/stores/{store['id']}/profile"
    a = pg_server.set(database=same_name, password=pg_server.password or "trusted")
    b = scram_pg.url(same_name)

    moved = client.post(
        f"/api/stores/{store['id']}/connect-database",
        headers=store["headers"],
        json={"database_url": libpq_uri(a)},
    )
    assert moved.status_code == 200, moved.text
    # The second process writes while the store is on A: its engine for the slot exists.
    first = second_process.patch(profile, headers=store["headers"], json={"description": "on A"})
    assert first.status_code == 200, first.text
    assert _descriptions(libpq_conninfo(a), str(store["id"])) == ["on A"]

    moved = client.post(
        f"/api/stores/{store['id']}/connect-database",
        headers=store["headers"],
        json={"database_url": libpq_uri(b)},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["store"]["placement"] == "database"

    # The routing notification reaches the second process within moments.
    deadline = time.monotonic() + 5
    runtime = second_process.app.state.runtime  # type: ignore[attr-defined]
    while (
        time.monotonic() < deadline and uuid.UUID(str(store["id"])) in runtime.tenancy._placements
    ):
        time.sleep(0.05)
    after = second_process.patch(profile, headers=store["headers"], json={"description": "on B"})
    assert after.status_code == 200, after.text
    assert _descriptions(libpq_conninfo(b), str(store["id"])) == ["on B"]
    assert _descriptions(libpq_conninfo(a), str(store["id"])) == []
    # And it reads from B too.
    read = second_process.get(profile, headers=store["headers"])
    assert read.status_code == 200 and read.json()["description"] == "on B"
