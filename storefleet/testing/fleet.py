"""Accounts and stores for a test or benchmark, made through the API or the runtime."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import text, update

from storefleet.commerce.store.models import StoreProfile
from storefleet.control.stores.service import set_published
from storefleet.runtime import Runtime
from storefleet.testing.postgres import unique_name

if TYPE_CHECKING:  # the test client warns on import; benchmarks never use it
    from fastapi.testclient import TestClient

STRONG_PASSWORD = "Tr1cky-Passw0rd!"  # noqa: S105  (test accounts only)
PLACEMENTS = ("pool", "schema", "database")
BENCH_PLAN = "bench"


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Accounts:
    """Registers accounts through the API and remembers their tokens."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.counter = 0

    def register(self, **overrides: str) -> dict[str, object]:
        self.counter += 1
        body = {
            "email": f"user{self.counter}-{unique_name('x')}@example.com",
            "password": STRONG_PASSWORD,
            "first_name": "Test",
            "last_name": f"User{self.counter}",
        }
        body.update(overrides)
        response = self.client.post("/api/auth/register", json=body)
        assert response.status_code == 201, response.text
        data: dict[str, object] = response.json()
        data["password"] = body["password"]
        return data


async def publish(runtime: Runtime, store_id: uuid.UUID) -> None:
    """Open the store's storefront (new stores start unpublished: 404 to shoppers)."""
    async with runtime.tenancy.session(store_id) as s:
        await s.execute(
            update(StoreProfile).where(StoreProfile.store_id == store_id).values(published=True)
        )
    async with runtime.control_sessions() as s, s.begin():
        await set_published(s, store_id, True)
    runtime.tenancy.invalidate(store_id)


async def publish_store(client: TestClient, store_id: object) -> None:
    """What ``PATCH …/profile {"published": true}`` does, without metering a request."""
    await publish(client.app.state.runtime, uuid.UUID(str(store_id)))  # type: ignore[attr-defined]


class Stores:
    """Creates stores through the API for a registered owner."""

    def __init__(self, client: TestClient, accounts: Accounts) -> None:
        self.client = client
        self.accounts = accounts
        self.counter = 0

    def create(
        self,
        placement: str = "pool",
        owner: dict[str, object] | None = None,
        *,
        publish: bool = True,
        **extra: object,
    ) -> dict[str, object]:
        """Returns the store body plus ``owner`` (the registered owner) and ``headers``."""
        self.counter += 1
        owner = owner or self.accounts.register()
        body: dict[str, object] = {
            "name": f"Store {self.counter}",
            "slug": f"{placement}-{unique_name('s').replace('_', '-')}",
            "placement": placement,
        }
        body.update(extra)
        response = self.client.post("/api/stores", headers=bearer(owner["token"]), json=body)
        assert response.status_code == 201, response.text
        store: dict[str, object] = response.json()
        assert store["provisioning_status"] == "ready", store
        store["owner"] = owner
        store["headers"] = bearer(owner["token"])
        if publish:
            # New stores start unpublished (their storefront is 404 until launch). Opened
            # here behind the API's back, so no test's request or rate counts change.
            self.client.portal.call(publish_store, self.client, store["id"])  # type: ignore[union-attr]
        return store


async def lift_rate_limit(runtime: Runtime, store_id: uuid.UUID) -> None:
    """Move the store to a plan whose per-minute API limit no bench load reaches.

    Throughput benches measure the route with the per-store limiter in the path; on the
    default free plan (600 calls a minute) the limiter would answer 429 to almost all of it.
    """
    async with runtime.control_sessions() as s, s.begin():
        await s.execute(
            text(
                "INSERT INTO plans (id, code, name, currency, monthly_price, annual_price, "
                "included_credits, max_api_calls_per_minute, trial_days, is_active, position) "
                "VALUES (gen_random_uuid(), :code, 'Bench', 'USD', 0, 0, 0, 1000000000, 0, "
                "true, 99) ON CONFLICT (code) DO NOTHING"
            ),
            {"code": BENCH_PLAN},
        )
        await s.execute(
            text(
                "UPDATE subscriptions SET plan_id = (SELECT id FROM plans WHERE code = :code) "
                "WHERE store_id = :s"
            ),
            {"code": BENCH_PLAN, "s": store_id},
        )
