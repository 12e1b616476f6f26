"""``storefleet serve --workers 2``: two processes, one platform.

A real server process on a free port against the module's control database. Each request
goes over a fresh connection, and the test finds which worker process holds that
connection (``/proc``), so it can alternate between the two workers on purpose: the login
throttle counts together (N failures in all, not N per worker), a plan's per-minute limit
holds for both together (not twice), a price changed through one worker shows in the other's
cached storefront answer, and a hostname claimed or removed through one worker routes, or
stops routing, in both.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import URL

from storefleet.testing import TEST_ENV, free_port, stop_group, unique_name, wait_ready

MAX_FAILURES = 6
PER_MINUTE = 6
RATE_PLAN = "two-workers-rate"
PASSWORD = "Tw0-Workers-Pass!"
WRONG = "Wr0ng-Workers-Pass!"


@dataclass
class Served:
    base: str
    port: int
    proc: subprocess.Popen[bytes]

    def workers(self) -> set[int]:
        """The processes whose parent is the server (uvicorn's workers)."""
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                found.add(int(stat.parent.name))
        return found

    def owner_of(self, client_port: int) -> int | None:
        """The worker holding the server side of the connection from ``client_port``."""
        inode = None
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            cols = line.split()
            local, remote = cols[1], cols[2]
            if int(local.split(":")[1], 16) == self.port and (
                int(remote.split(":")[1], 16) == client_port
            ):
                inode = cols[9]
        if inode is None:
            return None
        for pid in self.workers():
            for fd in Path(f"/proc/{pid}/fd").glob("*"):
                try:
                    if os.readlink(fd) == f"socket:[{inode}]":
                        return pid
                except OSError:
                    continue
        return None

    def on_worker(
        self,
        send: Callable[[httpx.Client], httpx.Response],
        *,
        not_on: int | None = None,
        within: float = 30,
    ) -> tuple[int, httpx.Response]:
        """``send`` over a new connection held by a worker other than ``not_on``: new
        connections are opened (and dropped unused after a cheap request) until one is."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with httpx.Client(base_url=self.base, timeout=10) as client:
                probe = client.get("/healthz")
                address = probe.extensions["network_stream"].get_extra_info("client_addr")
                pid = self.owner_of(address[1])
                if pid is not None and pid != not_on:
                    return pid, send(client)
        raise AssertionError(f"no new connection reached a worker other than {not_on}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREFLEET_")}
    env.update(
        TEST_ENV,
        STOREFLEET_HOME=str(home),
        STOREFLEET_DATABASE_URL=control_db.render_as_string(hide_password=False),
        STOREFLEET_ENVIRONMENT="test",
        STOREFLEET_ARGON2_MEMORY_COST="1024",
        STOREFLEET_ARGON2_TIME_COST="1",
        STOREFLEET_ARGON2_PARALLELISM="1",
        STOREFLEET_LOGIN_MAX_FAILURES=str(MAX_FAILURES),
        STOREFLEET_LOGIN_CLIENT_MAX_FAILURES="1000",
        STOREFLEET_CREDIT_OUTBOX_ENABLED="false",
        STOREFLEET_STOREFRONT_CLIENT_SHARE="1.0",
    )
    log = (home / "server.log").open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "storefleet.cli.main",
            "serve",
            "--port",
            str(port),
            "--workers",
            "2",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc, timeout=120)
        server = Served(base, port, proc)
        first, _ = server.on_worker(lambda c: c.get("/healthz"))
        server.on_worker(lambda c: c.get("/healthz"), not_on=first, within=120)  # both serve
        yield server
    finally:
        stop_group(proc, timeout=60)
        log.close()


@pytest.fixture(scope="module")
def rate_plan(control_db: URL) -> None:
    import psycopg

    from storefleet.db.urls import libpq_conninfo

    with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO plans (id, code, name, currency, monthly_price, annual_price, "
            "included_credits, max_api_calls_per_minute, trial_days, is_active, position) "
            "VALUES (gen_random_uuid(), %s, 'Two workers', 'USD', 0, 0, 0, %s, 0, true, 9) "
            "ON CONFLICT DO NOTHING",
            (RATE_PLAN, PER_MINUTE),
        )


def register(served: Served) -> dict[str, str]:
    email = f"{unique_name('w')}@example.com"
    body = {"email": email, "password": PASSWORD, "first_name": "W", "last_name": "K"}
    assert httpx.post(served.base + "/api/auth/register", json=body).status_code == 201
    login = httpx.post(served.base + "/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"email": email, "token": login.json()["token"]}


@pytest.mark.slow
def test_login_failures_count_once_across_both_workers(served: Served) -> None:
    email = register(served)["email"]
    wrong = {"email": email, "password": WRONG}
    statuses: list[int] = []
    pids: list[int] = []
    previous = None
    for _ in range(MAX_FAILURES):
        previous, response = served.on_worker(
            lambda c: c.post("/api/auth/login", json=wrong), not_on=previous
        )
        pids.append(previous)
        statuses.append(response.status_code)
    assert len(set(pids)) == 2, pids  # the failures alternated between the two workers
    assert statuses == [401] * MAX_FAILURES
    right = {"email": email, "password": PASSWORD}
    for worker in set(pids):  # refused on each worker, even with the right password
        _, response = served.on_worker(
            lambda c: c.post("/api/auth/login", json=right), not_on=worker
        )
        assert response.status_code == 429, response.text


@pytest.mark.slow
def test_a_hostname_claimed_and_removed_routes_in_both_workers(served: Served) -> None:
    owner = register(served)
    auth = {"Authorization": f"Bearer {owner['token']}"}
    slug = unique_name("w").replace("_", "-")
    created = httpx.post(
        served.base + "/api/stores",
        headers=auth,
        json={"name": "Two workers", "slug": slug, "placement": "pool"},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    store_id = created.json()["id"]
    profile = httpx.patch(
        f"{served.base}/api/stores/{store_id}/profile", headers=auth, json={"published": True}
    )
    assert profile.status_code == 200, profile.text
    host = f"{slug}.example.com"

    def storefront(client: httpx.Client) -> httpx.Response:
        return client.get("/api/storefront/store", headers={"Host": host})

    def answers_on_both(expected: int) -> None:
        """Each worker answers ``expected`` (within a few seconds: notifications are async)."""
        seen: set[int] = set()
        deadline = time.monotonic() + 10
        previous = None
        while len(seen) < 2:
            previous, response = served.on_worker(storefront, not_on=previous)
            if response.status_code == expected:
                if expected == 200:
                    assert response.json()["id"] == store_id
                seen.add(previous)
            else:
                assert time.monotonic() < deadline, (previous, response.status_code)
                time.sleep(0.1)

    answers_on_both(404)  # both workers have looked the name up (and found nothing)
    claim = httpx.post(
        f"{served.base}/api/stores/{store_id}/hostnames", headers=auth, json={"hostname": host}
    )
    assert claim.status_code == 201, claim.text
    assert claim.json()["status"] == "verified"
    answers_on_both(200)
    hostname_id = claim.json()["id"]
    removed = httpx.delete(
        f"{served.base}/api/stores/{store_id}/hostnames/{hostname_id}", headers=auth
    )
    assert removed.status_code == 204, removed.text
    answers_on_both(404)


def published_store(
    served: Served, auth: dict[str, str], before_first_call: Callable[[str], None] | None = None
) -> str:
    """A new pool store, published; ``before_first_call`` runs before any call about it
    reaches the workers (their plan-limit caches would keep the plan they saw first)."""
    slug = unique_name("w").replace("_", "-")
    created = httpx.post(
        served.base + "/api/stores",
        headers=auth,
        json={"name": "Two workers", "slug": slug, "placement": "pool"},
        timeout=60,
    )
    assert created.status_code == 201, created.text
    store_id: str = created.json()["id"]
    if before_first_call is not None:
        before_first_call(store_id)
    profile = httpx.patch(
        f"{served.base}/api/stores/{store_id}/profile", headers=auth, json={"published": True}
    )
    assert profile.status_code == 200, profile.text
    return store_id


@pytest.mark.slow
def test_a_per_minute_limit_holds_for_both_workers_together(
    served: Served, rate_plan: None, control_db: URL
) -> None:
    import psycopg

    from storefleet.db.urls import libpq_conninfo

    def on_the_rate_plan(store_id: str) -> None:
        with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
            conn.execute(
                "UPDATE subscriptions SET plan_id = (SELECT id FROM plans WHERE code = %s) "
                "WHERE store_id = %s",
                (RATE_PLAN, store_id),
            )

    owner = register(served)
    auth = {"Authorization": f"Bearer {owner['token']}"}
    store_id = published_store(served, auth, on_the_rate_plan)
    shop = {"X-Store-Id": store_id}
    statuses: list[int] = []
    pids: set[int] = set()
    previous = None
    for _ in range(3 * PER_MINUTE):
        previous, response = served.on_worker(
            lambda c: c.get("/api/storefront/store", headers=shop), not_on=previous
        )
        pids.add(previous)
        statuses.append(response.status_code)
        time.sleep(0.3)  # beyond the 0.1 s counter sync: each worker knows the other's count
    assert len(pids) == 2
    admitted = statuses.count(200)
    # Once per worker, each would admit the whole limit: 2 x PER_MINUTE in all.
    assert PER_MINUTE <= admitted <= PER_MINUTE + 1, statuses
    assert set(statuses[admitted:]) == {429}, statuses


@pytest.mark.slow
def test_a_price_changed_through_one_worker_shows_in_the_others_cached_answer(
    served: Served,
) -> None:
    owner = register(served)
    auth = {"Authorization": f"Bearer {owner['token']}"}
    store_id = published_store(served, auth)
    product = {
        "name": "Two-worker tee",
        "status": "active",
        "published": True,
        "variants": [
            {
                "title": "Default",
                "sku": unique_name("tee").upper(),
                "prices": [{"currency": "USD", "amount": 2000}],
                "stock": [{"location_code": "main", "on_hand": 5}],
            }
        ],
    }
    made = httpx.post(f"{served.base}/api/stores/{store_id}/products", headers=auth, json=product)
    assert made.status_code == 201, made.text
    shop = {"X-Store-Id": store_id}

    def price_on(client: httpx.Client) -> httpx.Response:
        return client.get("/api/storefront/products", headers=shop)

    reader, warm = served.on_worker(price_on)  # now in the reader's storefront cache
    assert warm.json()["items"][0]["price"]["amount"] == 2000, warm.text
    rule = {"name": "half", "kind": "sale", "percent_off_bp": 5000}
    writer, created = served.on_worker(
        lambda c: c.post(f"/api/stores/{store_id}/price-rules", headers=auth, json=rule),
        not_on=reader,
    )
    assert created.status_code == 201, created.text
    deadline = time.monotonic() + 10
    while True:
        _, answer = served.on_worker(price_on, not_on=writer)
        if answer.json()["items"][0]["price"]["amount"] == 1000:
            break
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.1)


def test_one_worker_of_a_start_takes_the_recovery_ticket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storefleet.api.app import _take_recovery_ticket
    from storefleet.config import WORKER_RECOVERY_TICKET_ENV

    ticket = tmp_path / "ticket"
    ticket.touch()
    monkeypatch.setenv(WORKER_RECOVERY_TICKET_ENV, str(ticket))
    assert [_take_recovery_ticket() for _ in range(3)] == [True, False, False]
    monkeypatch.delenv(WORKER_RECOVERY_TICKET_ENV)
    assert _take_recovery_ticket()  # one process without a parent: it recovers
