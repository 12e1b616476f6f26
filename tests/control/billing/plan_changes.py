"""Plan changes through the API, and what they leave in the control plane, for the tests."""

from __future__ import annotations

from typing import Any

import psycopg
from fastapi.testclient import TestClient

from tests.control.billing.stripe_server import (
    FakeStripe,
    event,
    post_webhook,
)


def change(client: TestClient, store: dict[str, Any], plan: str, cycle: str = "monthly") -> Any:
    return client.post(
        f"/api/stores/{store['id']}/subscription",
        json={"plan": plan, "billing_cycle": cycle},
        headers=store["headers"],
    )


def grants(control_conn: psycopg.Connection, store_id: object) -> list[tuple[int, str]]:
    return [
        (int(r[0]), r[1])
        for r in control_conn.execute(
            "SELECT amount, idempotency_key FROM credit_transactions "
            "WHERE store_id = %s AND kind = 'grant' ORDER BY seq",
            (str(store_id),),
        ).fetchall()
    ]


def subscription(control_conn: psycopg.Connection, store_id: object) -> tuple[Any, ...]:
    row = control_conn.execute(
        "SELECT p.code, s.status, s.billing_cycle, s.current_period_start, "
        "s.current_period_end, s.provider_subscription_id FROM subscriptions s "
        "JOIN plans p ON p.id = s.plan_id WHERE s.store_id = %s",
        (str(store_id),),
    ).fetchone()
    assert row is not None
    return tuple(row)


def subscribe(
    client: TestClient, fake: FakeStripe, store: dict[str, Any], plan: str, cycle: str = "monthly"
) -> dict[str, Any]:
    """The whole paid path: checkout, payment, webhook. Returns the paid session."""
    opened = change(client, store, plan, cycle)
    assert opened.status_code == 202, opened.text
    paid = fake.pay(opened.json()["session_id"])
    applied = post_webhook(client, event("checkout.session.completed", paid))
    assert applied.json()["action"] == "subscribed", applied.text
    return paid


def plan_args(store: dict[str, Any], plan: str, cycle: str = "monthly") -> list[str]:
    return ["stores", "plan", str(store["id"]), plan, "--cycle", cycle]
