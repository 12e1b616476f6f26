"""Strangers against a store's per-minute API budget, in every placement.

Anonymous callers, forged tokens, other accounts' tokens and a storefront flood cannot use
up what the plan gives the store's owner and staff, and one storefront client cannot use
up what it gives the store's shoppers; the owner's own burst still meets the limit. The app
trusts the TestClient's peer as a proxy, so ``X-Forwarded-For`` names each caller.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.config import Settings
from storefleet.control.usage.budgets import Budgets
from storefleet.runtime import Runtime
from storefleet.testing import PLACEMENTS, Accounts, Stores, asgi_client, bearer, make_settings

LIMIT = 20  # per minute; one storefront client gets a quarter of it
SHARE = LIMIT // 4
PLAN = uuid.UUID(int=0xB0D6E7)
STOREFRONT = "/api/storefront/store"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"),
        control_db,
        proxy_headers=True,
        forwarded_allow_ips="testclient",
    )


@pytest.fixture(scope="module", autouse=True)
def budget_plan(control_db: URL) -> None:
    from storefleet.db.urls import libpq_conninfo

    with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO plans (id, code, name, currency, monthly_price, annual_price, "
            "included_credits, max_api_calls_per_minute, trial_days, is_active, position) "
            "VALUES (%s, 'budget', 'Budget', 'USD', 0, 0, 0, %s, 0, true, 9)",
            (PLAN, LIMIT),
        )


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


@pytest.fixture
def budgets(client: TestClient) -> Iterator[Budgets]:
    """The app's budgets on a clock that stands still 10 s into a window."""
    found = runtime_of(client).rate_budgets
    now = 60.0 * 20_000 + 10
    found.set_clock(lambda: now)
    try:
        yield found
    finally:
        found.set_clock(time.monotonic)


@pytest.fixture
def store(
    request: pytest.FixtureRequest, stores: Stores, control_conn: psycopg.Connection
) -> dict[str, Any]:
    made = stores.create(request.param)
    control_conn.execute(
        "UPDATE subscriptions SET plan_id = %s WHERE store_id = %s", (PLAN, str(made["id"]))
    )
    # An earlier request may have cached the old plan's limits; a plan change behind the
    # app's back must drop them, as the app's own plan changes do.
    runtime_of(stores.client).plan_limits.invalidate(uuid.UUID(str(made["id"])))
    return made


def admin_url(store: dict[str, Any]) -> str:
    return f"/api/stores/{store['id']}/products"


def from_client(address: str, **headers: str) -> dict[str, str]:
    return {"X-Forwarded-For": address, **headers}


def forged_token(client: TestClient, owner_id: str) -> str:
    """The owner's claims under the platform's key id, signed with a key it never had."""
    now = int(time.time())
    claims = {
        "sub": owner_id,
        "account_type": "agency",
        "role": "owner",
        "ver": 0,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 600,
    }
    kid = runtime_of(client).tokens.active_kid
    return jwt.encode(claims, b"k" * 32, algorithm="HS256", headers={"kid": kid})


def owners_call(client: TestClient, store: dict[str, Any]) -> httpx.Response:
    return client.get(admin_url(store), headers=store["headers"])


@pytest.mark.parametrize("store", PLACEMENTS, indirect=True)
def test_strangers_and_shoppers_do_not_spend_the_owners_budget(
    client: TestClient, accounts: Accounts, store: dict[str, Any], budgets: Budgets
) -> None:
    store_header = {"X-Store-Id": str(store["id"])}
    stranger = bearer(accounts.register()["token"])
    forged = bearer(forged_token(client, str(store["owner"]["user"]["id"])))  # type: ignore[index]
    for _ in range(LIMIT + 5):
        assert client.get(admin_url(store), headers=store_header).status_code == 401
        assert client.get(admin_url(store), headers={**store_header, **forged}).status_code == 401
        assert client.get(admin_url(store), headers={**store_header, **stranger}).status_code == 404
    # Shoppers from many addresses use up the storefront's whole allowance ...
    served = [
        client.get(STOREFRONT, headers=from_client(f"192.0.2.{i}", **store_header)).status_code
        for i in range(2 * LIMIT)
    ]
    assert served.count(200) == LIMIT and served.count(429) == LIMIT
    # ... and the owner still has every call of the plan.
    for _ in range(LIMIT):
        response = owners_call(client, store)
        assert response.status_code == 200, response.text
    limited = owners_call(client, store)
    assert limited.status_code == 429
    assert limited.json()["limit"] == "max_api_calls_per_minute"
    assert limited.json()["scope"] == "admin"


async def _stalled(release: asyncio.Event) -> AsyncIterator[bytes]:
    await release.wait()
    yield b'{"name": "Never"}'


@pytest.mark.parametrize("store", PLACEMENTS, indirect=True)
def test_slow_anonymous_bodies_do_not_hold_the_owners_budget(
    client: TestClient, store: dict[str, Any], budgets: Budgets
) -> None:
    """Requests in flight with a body that never ends count from their start; those of
    callers without the owner's or staff's token must not count at all."""
    forged = bearer(forged_token(client, str(store["owner"]["user"]["id"])))  # type: ignore[index]

    async def attack() -> tuple[list[int], int]:
        release = asyncio.Event()
        async with asgi_client(client.app, "http://api") as http:
            stalled = [
                asyncio.create_task(
                    http.post(
                        admin_url(store),
                        content=_stalled(release),
                        headers={"content-type": "application/json", **headers},
                    )
                )
                for headers in [forged, {}] * LIMIT
            ]
            await asyncio.sleep(0.2)  # every one of them is inside the app, counted or not
            owner = await http.get(admin_url(store), headers=store["headers"])
            release.set()
            return [r.status_code for r in await asyncio.gather(*stalled)], owner.status_code

    strangers, owner = client.portal.call(attack)  # type: ignore[union-attr]
    assert owner == 200
    assert set(strangers) == {401}


@pytest.mark.parametrize("store", PLACEMENTS, indirect=True)
def test_one_storefront_client_cannot_use_up_the_storefront(
    client: TestClient, store: dict[str, Any], budgets: Budgets
) -> None:
    store_header = {"X-Store-Id": str(store["id"])}
    flood = [
        client.get(STOREFRONT, headers=from_client("203.0.113.9", **store_header))
        for _ in range(LIMIT)
    ]
    assert [r.status_code for r in flood] == [200] * SHARE + [429] * (LIMIT - SHARE)
    assert flood[-1].json()["scope"] == "client"
    assert int(flood[-1].headers["retry-after"]) >= 1
    # Another address of the same IPv6 /64 is the same client; another client is served.
    v6 = [
        client.get(STOREFRONT, headers=from_client(f"2001:db8:9::{i + 1}", **store_header))
        for i in range(SHARE + 1)
    ]
    assert [r.status_code for r in v6] == [200] * SHARE + [429]
    shopper = client.get(STOREFRONT, headers=from_client("198.51.100.4", **store_header))
    assert shopper.status_code == 200, shopper.text
    assert shopper.json()["id"] == str(store["id"])
    assert owners_call(client, store).status_code == 200


@pytest.mark.parametrize("store", PLACEMENTS, indirect=True)
def test_the_owners_and_staffs_own_burst_meets_the_limit(
    client: TestClient, store: dict[str, Any], budgets: Budgets
) -> None:
    staff_email = f"budget-{uuid.uuid4().hex[:8]}@example.com"
    password = "Staff-Passw0rd!x"
    added = client.post(
        f"/api/stores/{store['id']}/staff",
        headers=store["headers"],
        json={
            "email": staff_email,
            "first_name": "S",
            "last_name": "B",
            "role": "admin",
            "password": password,
        },
    )
    assert added.status_code == 201, added.text
    login = client.post(
        "/api/auth/staff/login",
        json={"store_id": store["id"], "email": staff_email, "password": password},
    )
    staff = bearer(login.json()["token"])
    calls = [
        client.get(admin_url(store), headers=staff if i % 2 else store["headers"]).status_code
        for i in range(LIMIT)
    ]
    # The staff member added above was one call of the owner's budget.
    assert calls == [200] * (LIMIT - 1) + [429]
    limited = client.get(admin_url(store), headers=staff)
    assert limited.status_code == 429
    assert limited.json()["plan"] == "budget" and limited.json()["allowed"] == LIMIT
    assert int(limited.headers["retry-after"]) >= 1
