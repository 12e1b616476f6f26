"""Renewals and operator plan changes: included credits once per billing period.

The real ``stripe`` SDK talks to the local stand-in of ``stripe_server.py``; renewals arrive
as its invoice webhooks, and ``storefleet stores plan`` sets a plan as an operator would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.cli.main import app as cli_app
from storefleet.config import Settings, get_settings
from storefleet.control.billing import plans
from storefleet.runtime import Runtime
from storefleet.testing import Stores
from tests.control.billing.plan_changes import change, grants, plan_args, subscribe, subscription
from tests.control.billing.stripe_server import (
    PLATFORM_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    event,
    post_webhook,
)


def invoice(subscription_id: str, start: datetime, reason: str = "subscription_cycle") -> dict:
    return {
        "id": "in_" + uuid.uuid4().hex[:12],
        "object": "invoice",
        "billing_reason": reason,
        "status": "paid",
        "currency": "usd",
        "amount_paid": 2900,
        "parent": {"subscription_details": {"subscription": subscription_id, "metadata": {}}},
        "lines": {
            "data": [
                {
                    "period": {
                        "start": int(start.timestamp()),
                        "end": int((start + timedelta(days=30)).timestamp()),
                    }
                }
            ]
        },
    }


def test_renewals_grant_once_per_period_and_cancellation_returns_to_free(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, fake_stripe: FakeStripe
) -> None:
    store = stores.create("pool")
    paid = subscribe(client, fake_stripe, store, "starter")
    sub_id = paid["subscription"]
    first = subscription(control_conn, store["id"])[3]
    start = (first + timedelta(days=30)).replace(microsecond=0)
    renewal = invoice(sub_id, start)
    actions = [
        post_webhook(client, event("invoice.paid", renewal)).json()["action"] for _ in range(3)
    ]
    assert actions == ["renewed"] * 3  # three events about one invoice
    key = f"plan-grant:{store['id']}:starter:{start.isoformat()}"
    assert grants(control_conn, store["id"])[-1] == (1000, key)
    assert [g[0] for g in grants(control_conn, store["id"])] == [100, 1000, 1000]
    assert subscription(control_conn, store["id"])[3:5] == (start, start + timedelta(days=30))
    renewals = control_conn.execute(
        "SELECT count(*) FROM billing_transactions WHERE store_id = %s "
        "AND purpose = 'subscription_renewal'",
        (store["id"],),
    ).fetchone()
    assert renewals == (1,)
    ignored = [
        invoice(sub_id, start + timedelta(days=30), reason="subscription_create"),
        invoice("sub_unknown", start + timedelta(days=30)),
    ]
    for obj in ignored:
        assert (
            post_webhook(client, event("invoice.paid", obj)).json()["action"].startswith("ignored")
        )
    assert len(grants(control_conn, store["id"])) == 3

    deleted = {"id": sub_id, "object": "subscription", "status": "canceled"}
    assert (
        post_webhook(client, event("customer.subscription.deleted", deleted)).json()["action"]
        == "cancelled"
    )
    row = subscription(control_conn, store["id"])
    assert (row[0], row[1], row[5]) == ("free", "cancelled", None)
    assert len(grants(control_conn, store["id"])) == 3
    assert change(client, store, "starter").status_code == 202  # paying again is the way back


@pytest.fixture
def cli(
    settings: Settings, control_db: URL, monkeypatch: pytest.MonkeyPatch, fake_stripe: FakeStripe
) -> Iterator[CliRunner]:
    monkeypatch.setenv("STOREFLEET_HOME", str(settings.home))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    monkeypatch.setenv("STOREFLEET_STRIPE_SECRET_KEY", PLATFORM_KEY)
    monkeypatch.setenv("STOREFLEET_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("STOREFLEET_STRIPE_API_BASE", fake_stripe.url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_admin_sets_any_plan_from_the_cli_granting_once_per_period(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    fake_stripe: FakeStripe,
    cli: CliRunner,
) -> None:
    store = stores.create("pool")
    outputs = []
    for _ in range(3):
        result = cli.invoke(cli_app, plan_args(store, "professional", "annual"))
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert "granted 5000" in outputs[0]
    assert all("already granted" in o for o in outputs[1:])
    row = subscription(control_conn, store["id"])
    assert row[:3] == ("professional", "active", "annual")
    key = f"plan-grant:{store['id']}:professional:{row[3].isoformat()}"
    assert grants(control_conn, store["id"]) == [(100, "plan:free:initial"), (5000, key)]
    audited = control_conn.execute(
        "SELECT actor_label, after->>'plan' FROM audit_log WHERE entity_id = %s "
        "AND action = 'subscription.plan_set'",
        (store["id"],),
    ).fetchall()
    assert audited == [("platform-admin:cli", "professional")] * 3

    # Ten admin sets at once for a new plan: one new period, one grant.
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def set_starter() -> None:
        async with runtime.control_sessions() as session, session.begin():
            await plans.admin_set(
                session, uuid.UUID(str(store["id"])), "starter", "monthly", actor_label="test"
            )

    async def ten() -> None:
        await asyncio.gather(*(set_starter() for _ in range(10)))

    client.portal.call(ten)  # type: ignore[union-attr]
    assert [g[0] for g in grants(control_conn, store["id"])] == [100, 5000, 1000]

    unknown = cli.invoke(cli_app, plan_args(store, "platinum"))
    assert unknown.exit_code == 1 and "platinum" in unknown.output

    # A store Stripe bills: the admin's plan replaces it, and Stripe stops billing.
    billed = stores.create("pool")
    paid = subscribe(client, fake_stripe, billed, "starter")
    result = cli.invoke(cli_app, plan_args(billed, "enterprise"))
    assert result.exit_code == 0, result.output
    assert f"cancelled Stripe subscription {paid['subscription']}" in result.output
    assert fake_stripe.subscriptions[paid["subscription"]]["status"] == "canceled"
    assert subscription(control_conn, billed["id"])[0::5] == ("enterprise", None)
