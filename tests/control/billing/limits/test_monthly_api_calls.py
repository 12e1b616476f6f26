"""Plan limits on API calls a month: 429 on the storefront, counted once across restarts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.control.usage.monthly import MonthlyRequests, month_of, next_month
from storefleet.control.usage.service import UsageRecorder
from storefleet.testing import Stores
from tests.control.billing.limits.helpers import (
    MONTHLY,
    put_on_plan,
    runtime_of,
)


def metered(control_conn: psycopg.Connection, store_id: object, day: date, requests: int) -> None:
    control_conn.execute(
        "INSERT INTO usage_metrics (store_id, day, requests, errors, orders, products, "
        "storage_bytes) VALUES (%s, %s, %s, 0, 0, 0, 0) ON CONFLICT (store_id, day) "
        "DO UPDATE SET requests = excluded.requests",
        (str(store_id), day, requests),
    )


def metered_this_month(control_conn: psycopg.Connection, store_id: object) -> int:
    row = control_conn.execute(
        "SELECT coalesce(sum(requests), 0) FROM usage_metrics WHERE store_id = %s "
        "AND day >= date_trunc('month', now() AT TIME ZONE 'UTC')",
        (str(store_id),),
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_monthly_api_calls_are_429_on_the_storefront_and_survive_a_restart(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    settings: Settings,
    control_db: URL,
) -> None:
    store = stores.create("pool")
    put_on_plan(control_conn, store["id"], "monthly")
    today = datetime.now(UTC).date()
    first = month_of(today)
    metered(control_conn, store["id"], first - timedelta(days=1), 10**6)  # last month
    metered(control_conn, store["id"], today, 2)  # served before this process started
    runtime = runtime_of(client)
    shop = {"X-Store-Id": str(store["id"])}
    storefront = [client.get("/api/storefront/store", headers=shop).status_code for _ in range(3)]
    owner = client.get(f"/api/stores/{store['id']}/subscription", headers=store["headers"])
    assert (storefront, owner.status_code) == ([200] * 3, 200)  # 2 + 4 = 6 calls: all used
    refused = client.get("/api/storefront/store", headers=shop)
    assert refused.status_code == 429
    body = refused.json()
    assert body["limit"] == "max_api_calls_per_month"
    assert (body["plan"], body["allowed"], body["current"]) == ("monthly", MONTHLY, MONTHLY)
    resets = next_month(first)
    assert body["resets_at"] == datetime(resets.year, resets.month, 1, tzinfo=UTC).isoformat()
    wait = int(refused.headers["retry-after"])
    assert 0 < wait <= 31 * 86400
    # The owner's admin calls go on (to change the plan, for one); they still count.
    assert (
        client.get(f"/api/stores/{store['id']}/subscription", headers=store["headers"]).status_code
        == 200
    )

    # Metered into the control plane (the refusal is not a call of the store's) ...
    recorder = runtime.usage_recorder
    assert isinstance(recorder, UsageRecorder)
    client.portal.call(recorder.flush)  # type: ignore[union-attr]
    assert metered_this_month(control_conn, store["id"]) == 2 + 5
    # ... so a process started afresh refuses at once.
    with TestClient(create_app(settings, control_db), raise_server_exceptions=False) as fresh:
        again = fresh.get("/api/storefront/store", headers=shop)
        assert again.status_code == 429, again.text
        assert again.json()["current"] == 7
        # A plan without the limit lifts it.
        put_on_plan(control_conn, store["id"], "enterprise")
        runtime_of(fresh).rate_budgets.limits.invalidate(uuid.UUID(str(store["id"])))
        assert fresh.get("/api/storefront/store", headers=shop).status_code == 200


def test_monthly_count_adds_this_process_calls_without_counting_them_twice(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    store_id = uuid.UUID(str(stores.create("pool")["id"]))
    today = datetime.now(UTC).date()
    metered(control_conn, store_id, today, 10)
    now = [0.0]
    day = [today]
    counts = MonthlyRequests(
        runtime_of(client).control_sessions,
        refresh_seconds=5,
        clock=lambda: now[0],
        today=lambda: day[0],
    )

    async def settle() -> None:
        await asyncio.gather(*counts._tasks)

    def count() -> int:
        found: int = client.portal.call(counts.count, store_id)  # type: ignore[union-attr]
        client.portal.call(settle)  # type: ignore[union-attr]
        return found

    assert count() == 10  # the first read is waited for
    counts.add(store_id)
    counts.add(store_id)
    metered(control_conn, store_id, today, 11)  # one of the two flushed, by now
    assert count() == 12  # not due: no read
    now[0] = 6
    assert count() == 12  # due: read in the background, the answer meanwhile is the old one
    assert count() == 11  # the two before that read are in the metered sum or on their way
    counts.add(store_id)
    assert count() == 12
    metered(control_conn, store_id, today, 13)
    now[0] = 12
    count()
    assert count() == 13
    day[0] = next_month(month_of(today))  # a new month starts from its own metered sum
    assert count() == 0
