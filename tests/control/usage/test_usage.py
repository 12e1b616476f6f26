"""Usage metering: buffered, batched, by route template; daily metrics; retention."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.api.app import create_app
from storefleet.api.metering import UsageMetering
from storefleet.config import Settings
from storefleet.control.usage.service import UsageRecord, UsageRecorder, prune
from storefleet.runtime import Runtime
from storefleet.testing import Accounts, Stores, bearer, make_settings


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def recorder_of(client: TestClient) -> UsageRecorder:
    recorder = runtime_of(client).usage_recorder
    assert isinstance(recorder, UsageRecorder)
    return recorder


def flush(client: TestClient) -> int:
    written: int = client.portal.call(recorder_of(client).flush)  # type: ignore[union-attr]
    return written


def logs(control_conn: psycopg.Connection, store_id: object) -> list[tuple[Any, ...]]:
    return control_conn.execute(
        "SELECT method, route, status, account_id, duration_ms FROM api_usage_logs "
        "WHERE store_id = %s ORDER BY id",
        (str(store_id),),
    ).fetchall()


def test_requests_are_logged_by_route_template_and_aggregated(
    client: TestClient, stores: Stores, accounts: Accounts, control_conn: psycopg.Connection
) -> None:
    store = stores.create("pool")
    flush(client)
    base = f"/api/stores/{store['id']}"
    for _ in range(3):
        assert client.get(f"{base}/subscription", headers=store["headers"]).status_code == 200
    too_big = client.get(
        f"{base}/credits/transactions", params={"limit": 5000}, headers=store["headers"]
    )
    assert too_big.status_code == 422
    stranger = bearer(accounts.register()["token"])
    assert client.get(f"{base}/subscription", headers=stranger).status_code == 404
    storefront = client.get("/api/storefront/store", headers={"X-Store-Id": store["id"]})
    assert storefront.status_code == 200
    assert client.get(f"/api/no/such/{store['id']}").status_code == 404
    flush(client)

    rows = logs(control_conn, store["id"])
    owner_id = uuid.UUID(str(store["owner"]["user"]["id"]))  # type: ignore[index]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("GET", "/api/stores/{store_id}/subscription", 200),
        ("GET", "/api/stores/{store_id}/subscription", 200),
        ("GET", "/api/stores/{store_id}/subscription", 200),
        ("GET", "/api/stores/{store_id}/credits/transactions", 422),
        ("GET", "/api/stores/{store_id}/subscription", 404),
        ("GET", "/api/storefront/store", 200),
    ]
    assert [r[3] for r in rows[:4]] == [owner_id] * 4
    assert rows[4][3] not in (None, owner_id)  # the stranger's account
    assert rows[5][3] is None and all(r[4] >= 0 for r in rows)
    # The raw path never reaches the logs: no store id, no unknown path.
    assert control_conn.execute(
        "SELECT count(*) FROM api_usage_logs WHERE route LIKE %s OR route LIKE '%%no/such%%'",
        (f"%{store['id']}%",),
    ).fetchone() == (0,)
    assert (
        control_conn.execute(
            "SELECT count(*) FROM api_usage_logs WHERE route = '<unmatched>' AND status = 404"
        ).fetchone()[0]
        >= 1
    )

    usage = client.get(f"{base}/usage", headers=store["headers"])
    assert usage.status_code == 200, usage.text
    body = usage.json()
    today = datetime.now(UTC).date().isoformat()
    assert body["to"] == today and len(body["days"]) == 30
    assert body["days"][-1]["day"] == today
    # The stranger's 404 is logged but is not the store's usage.
    assert (body["days"][-1]["requests"], body["days"][-1]["errors"]) == (5, 1)
    assert body["totals"]["requests"] == 5 and body["days"][0]["requests"] == 0

    window = client.get(
        f"{base}/usage", params={"from": today, "to": today}, headers=store["headers"]
    )
    assert [d["day"] for d in window.json()["days"]] == [today]
    backwards = client.get(
        f"{base}/usage", params={"from": today, "to": "2000-01-01"}, headers=store["headers"]
    )
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "from"
    too_long = client.get(
        f"{base}/usage", params={"from": "2000-01-01", "to": today}, headers=store["headers"]
    )
    assert too_long.status_code == 422
    garbage = client.get(f"{base}/usage", params={"from": "yesterday"}, headers=store["headers"])
    assert garbage.status_code == 422


def test_background_flush_without_being_asked(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    store = stores.create("pool")
    client.get(f"/api/stores/{store['id']}/subscription", headers=store["headers"])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not logs(control_conn, store["id"]):
        time.sleep(0.05)
    assert len(logs(control_conn, store["id"])) == 1


def _record(route: str, status: int = 200, store_id: uuid.UUID | None = None) -> UsageRecord:
    return UsageRecord(datetime.now(UTC), store_id, None, "GET", route, status, 1)


def test_full_buffer_drops_the_oldest_and_counts_them(
    client: TestClient, control_conn: psycopg.Connection
) -> None:
    recorder = UsageRecorder(runtime_of(client).control_sessions, capacity=3, batch_size=2)
    tag = uuid.uuid4().hex[:8]
    for i in range(5):
        recorder.record(_record(f"/t/{tag}/{i}"))
    assert (recorder.pending, recorder.stats.dropped, recorder.stats.recorded) == (3, 2, 5)
    assert client.portal.call(recorder.flush) == 3  # type: ignore[union-attr]
    routes = control_conn.execute(
        "SELECT route FROM api_usage_logs WHERE route LIKE %s ORDER BY id", (f"/t/{tag}/%",)
    ).fetchall()
    assert [r[0] for r in routes] == [f"/t/{tag}/{i}" for i in (2, 3, 4)]


def test_prune_keeps_the_retention_window(
    client: TestClient,
    control_conn: psycopg.Connection,
    settings: Settings,
    control_db: URL,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag = uuid.uuid4().hex[:8]
    for days in (45, 31, 29, 0):
        control_conn.execute(
            "INSERT INTO api_usage_logs (method, route, status, duration_ms, created_at) "
            "VALUES ('GET', %s, 200, 1, now() - make_interval(days => %s))",
            (f"/p/{tag}/{days}", days),
        )
    removed = client.portal.call(prune, runtime_of(client).control_sessions, 30)  # type: ignore[union-attr]
    assert removed >= 2
    left = control_conn.execute(
        "SELECT route FROM api_usage_logs WHERE route LIKE %s ORDER BY route", (f"/p/{tag}/%",)
    ).fetchall()
    assert [r[0] for r in left] == [f"/p/{tag}/0", f"/p/{tag}/29"]

    from storefleet.cli.main import app as cli
    from storefleet.config import get_settings

    monkeypatch.setenv("STOREFLEET_HOME", str(settings.home))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["usage", "prune", "--days", "10"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    left = control_conn.execute(
        "SELECT route FROM api_usage_logs WHERE route LIKE %s", (f"/p/{tag}/%",)
    ).fetchall()
    assert [r[0] for r in left] == [f"/p/{tag}/0"]


def test_aggregate_counts_products_orders_and_storage(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    settings: Settings,
    control_db: URL,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from storefleet.commerce.catalog.models import Product

    pool, schema = stores.create("pool"), stores.create("schema")
    runtime = runtime_of(client)

    async def add_products(store_id: str, count: int, deleted: int) -> None:
        async with runtime.tenancy.session(uuid.UUID(store_id)) as s:
            for i in range(count):
                s.add(
                    Product(
                        store_id=uuid.UUID(store_id),
                        name=f"P{i}",
                        slug=f"p-{i}",
                        deleted_at=datetime.now(UTC) - timedelta(hours=1) if i < deleted else None,
                    )
                )

    client.portal.call(add_products, str(pool["id"]), 3, 1)  # type: ignore[union-attr]
    client.portal.call(add_products, str(schema["id"]), 2, 0)  # type: ignore[union-attr]
    # Live requests recorded today are kept when the tenant counts are filled in.
    client.get(f"/api/stores/{pool['id']}/subscription", headers=pool["headers"])
    flush(client)

    from storefleet.cli.main import app as cli
    from storefleet.config import get_settings

    today = datetime.now(UTC).date().isoformat()
    monkeypatch.setenv("STOREFLEET_HOME", str(settings.home))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            cli,
            ["usage", "aggregate", "--day", today, "--store", pool["id"], "--store", schema["id"]],
        )
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    metrics = {
        str(r[0]): r[1:]
        for r in control_conn.execute(
            "SELECT store_id, requests, orders, products, storage_bytes FROM usage_metrics "
            "WHERE day = %s AND store_id IN (%s, %s)",
            (today, pool["id"], schema["id"]),
        )
    }
    assert metrics[str(pool["id"])] == (1, 0, 2, 0)
    requests, orders, products, storage = metrics[str(schema["id"])]
    assert (requests, orders, products) == (0, 0, 2) and storage > 100_000


def test_metering_can_be_switched_off(tmp_path: Any, control_db: URL) -> None:
    off = create_app(make_settings(tmp_path, control_db, metering_enabled=False), control_db)
    on = create_app(make_settings(tmp_path, control_db), control_db)
    assert UsageMetering not in [m.cls for m in off.user_middleware]
    assert UsageMetering in [m.cls for m in on.user_middleware]


def test_a_flush_cancelled_mid_write_keeps_its_batch_for_the_shutdown_flush(
    client: TestClient, control_conn: psycopg.Connection, control_db: URL
) -> None:
    """Shutdown cancels the flusher while it writes: those records are written, not lost."""
    import asyncio

    from storefleet.db.urls import libpq_conninfo

    recorder = UsageRecorder(runtime_of(client).control_sessions, batch_size=10)
    tag = uuid.uuid4().hex[:8]
    for i in range(25):
        recorder.record(_record(f"/cancel/{tag}/{i}"))

    async def cancel_while_writing() -> None:
        # Hold the log table so the flush blocks inside its write, then cancel it there.
        with psycopg.connect(libpq_conninfo(control_db)) as holder:
            holder.execute("LOCK TABLE api_usage_logs IN ACCESS EXCLUSIVE MODE")
            task = asyncio.create_task(recorder.flush())
            await asyncio.sleep(0.5)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            holder.rollback()
        assert recorder.pending == 25
        await recorder.stop()

    client.portal.call(cancel_while_writing)  # type: ignore[union-attr]
    written = control_conn.execute(
        "SELECT count(*) FROM api_usage_logs WHERE route LIKE %s", (f"/cancel/{tag}/%",)
    ).fetchone()
    assert written == (25,)


def test_usage_rows_only_for_stores_that_exist(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    """Invented store ids in paths are logged unowned and grow no metrics."""
    real = stores.create("pool")
    invented = uuid.uuid4()
    recorder = UsageRecorder(runtime_of(client).control_sessions)
    tag = uuid.uuid4().hex[:8]
    recorder.record(_record(f"/real/{tag}", 400, uuid.UUID(str(real["id"]))))
    recorder.record(_record(f"/invented/{tag}", 400, invented))
    assert client.portal.call(recorder.flush) == 2  # type: ignore[union-attr]
    metrics = control_conn.execute(
        "SELECT store_id::text FROM usage_metrics WHERE store_id = ANY(%s)",
        ([str(real["id"]), str(invented)],),
    ).fetchall()
    assert metrics == [(str(real["id"]),)]
    owners = control_conn.execute(
        "SELECT route, store_id::text FROM api_usage_logs WHERE route LIKE %s ORDER BY route",
        (f"/%/{tag}",),
    ).fetchall()
    assert owners == [(f"/invented/{tag}", None), (f"/real/{tag}", str(real["id"]))]
