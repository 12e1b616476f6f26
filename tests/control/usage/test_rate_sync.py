"""Per-minute limits hold across API processes: two apps on one control plane, as two
``serve`` workers would be, admit the plan's limit together, not twice it.

Each app has its own runtime, budgets and sync loop, against the module's control database.
The first test syncs by hand after every request (the bound is then exact); the second
lets the background loops run at 50 ms and paces requests a little slower than that; the
third takes the control plane away and checks that requests go on, counted locally.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.control.usage.budgets import SlidingWindow
from storefleet.control.usage.rate_sync import RateCounterSync
from storefleet.runtime import Runtime
from storefleet.testing import Stores, make_settings

LIMIT = 10
PLAN = uuid.UUID(int=0x5EC0)
STOREFRONT = "/api/storefront/store"
FIXED_NOW = 60.0 * 30_000_000 + 5  # mid-window: no sliding while the test runs


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Settings:
    # The background loop is out of the way (hourly); the tests sync when they choose.
    return make_settings(
        tmp_path_factory.mktemp("home"),
        control_db,
        storefront_client_share=1.0,
        rate_limit_sync_seconds=3600,
    )


@pytest.fixture(scope="module", autouse=True)
def plan(control_db: URL) -> None:
    from storefleet.db.urls import libpq_conninfo

    with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO plans (id, code, name, currency, monthly_price, annual_price, "
            "included_credits, max_api_calls_per_minute, trial_days, is_active, position) "
            "VALUES (%s, 'sync-test', 'Sync test', 'USD', 0, 0, 0, %s, 0, true, 9)",
            (PLAN, LIMIT),
        )


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


@pytest.fixture
def second(settings: Settings, control_db: URL) -> Iterator[TestClient]:
    """Another process's app: its own runtime, caches and counters."""
    with TestClient(create_app(settings, control_db), raise_server_exceptions=False) as c:
        yield c


def limited_store(stores: Stores, control_conn: psycopg.Connection) -> dict[str, Any]:
    made = stores.create("pool")
    control_conn.execute(
        "UPDATE subscriptions SET plan_id = %s WHERE store_id = %s", (PLAN, str(made["id"]))
    )
    return made


def on_fixed_clock(*clients: TestClient) -> None:
    for c in clients:
        runtime_of(c).rate_budgets.set_clock(lambda: FIXED_NOW)
        runtime_of(c).plan_limits.invalidate()


def sync(c: TestClient) -> None:
    loop = runtime_of(c).rate_budgets.sync
    assert loop is not None
    c.portal.call(loop.sync_once)  # type: ignore[union-attr]


def test_two_processes_admit_the_limit_together_not_twice(
    client: TestClient,
    second: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
) -> None:
    store = limited_store(stores, control_conn)
    shop = {"X-Store-Id": str(store["id"])}
    on_fixed_clock(client, second)
    statuses = []
    for turn in range(3 * LIMIT):
        serving = (client, second)[turn % 2]
        statuses.append(serving.get(STOREFRONT, headers=shop).status_code)
        sync(serving)
        sync((client, second)[(turn + 1) % 2])
    assert statuses.count(200) == LIMIT
    assert set(statuses[LIMIT:]) == {429}
    rows = control_conn.execute(
        "SELECT sum(count) FROM rate_counters WHERE kind = 'storefront' AND key = %s",
        (str(store["id"]),),
    ).fetchone()
    assert rows == (LIMIT,)


def test_background_sync_keeps_the_fleet_within_one_interval(
    settings: Settings,
    control_db: URL,
    stores: Stores,
    control_conn: psycopg.Connection,
) -> None:
    interval = 0.05
    fast = settings.model_copy(update={"rate_limit_sync_seconds": interval})
    store = limited_store(stores, control_conn)
    shop = {"X-Store-Id": str(store["id"])}
    with (
        TestClient(create_app(fast, control_db)) as one,
        TestClient(create_app(fast, control_db)) as two,
    ):
        on_fixed_clock(one, two)
        admitted = 0
        for turn in range(2 * LIMIT):
            admitted += (one, two)[turn % 2].get(STOREFRONT, headers=shop).status_code == 200
            time.sleep(interval * 1.5)
    # Local counting alone would admit all 2 x LIMIT; what one interval of lag may add is
    # about one request per process at this pace.
    assert LIMIT <= admitted <= LIMIT + 2


def test_requests_go_on_when_the_control_plane_is_away(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        engine = create_async_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")
        window = SlidingWindow(clock=lambda: FIXED_NOW, kind="storefront")
        loop = RateCounterSync(engine, [window], interval=0.01)
        window.share()
        key = uuid.uuid4()
        assert [window.acquire(key, 3) for _ in range(3)] == [None] * 3
        loop.start()
        await asyncio.sleep(0.2)
        # Counted on local counts alone, and the changes are kept for when it is back.
        assert window.acquire(key, 3) is not None
        assert loop.failing and window.unsent == 3
        await loop.stop()
        await engine.dispose()

    asyncio.run(scenario())
    failures = [r for r in caplog.records if "rate counter sync failed" in r.getMessage()]
    assert len(failures) == 1  # once per outage


def test_windows_learn_the_others_counts_including_the_previous_minute() -> None:
    now = [FIXED_NOW]
    here = SlidingWindow(clock=lambda: now[0], kind="admin")
    here.share()
    key = uuid.uuid4()
    assert here.acquire(key, 5) is None
    taken = here.take_pending()
    index = int(FIXED_NOW // 60)
    # The key is new here: the previous window is asked about (no change), the current sent.
    assert sorted((i, d, local) for _k, i, d, local in taken) == [(index - 1, 0, 0), (index, 1, 1)]
    here.learn(key, index, 5, 1)  # four from elsewhere
    assert here.acquire(key, 5) is not None
    now[0] += 110  # 55 s into the next minute: the others' four have mostly slid out
    assert here.acquire(key, 5) is None
