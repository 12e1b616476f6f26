"""Plan changes: a paid plan only through Stripe, one checkout, switched by its webhook.

The real ``stripe`` SDK talks to the local stand-in of ``stripe_server.py``; concurrent
calls are asyncio tasks against the ASGI app on the test client's loop, over the real
database. Rule under test (README): a change costing nothing more applies at once, keeps
the period and grants nothing; anything else is a Checkout, switched by the webhook.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.cli.main import app as cli_app
from storefleet.config import Settings, get_settings
from storefleet.testing import Stores, asgi_client
from tests.control.billing.plan_changes import change, grants, plan_args, subscribe, subscription
from tests.control.billing.stripe_server import (
    PLATFORM_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    event,
    post_webhook,
    sign,
)

PROBLEM = "application/problem+json"
Call = tuple[str, str, dict[str, Any]]


def concurrently(client: TestClient, calls: list[Call]) -> list[httpx.Response]:
    """All ``calls`` at once, as tasks on the app's own event loop.

    The store's placement is read once before (it is cached): a cold read takes a second
    control connection per request while the request's own is held, and twenty of those at
    once would wait on the control pool (20), not on the code under test.
    """
    for _, url, kwargs in calls:
        if "/api/stores/" in url:
            assert client.get(url, headers=kwargs["headers"]).status_code == 200
            break

    async def run() -> list[httpx.Response]:
        async with asgi_client(client.app) as http:
            return list(await asyncio.gather(*(http.request(m, u, **kw) for m, u, kw in calls)))

    return client.portal.call(run)  # type: ignore[union-attr]


def post(url: str, body: dict[str, Any], store: dict[str, Any]) -> Call:
    return ("POST", url, {"json": body, "headers": store["headers"]})


def plan_checkouts(control_conn: psycopg.Connection, store_id: object) -> list[tuple[Any, ...]]:
    return control_conn.execute(
        "SELECT id, status, amount, data->>'plan', data->>'billing_cycle', provider_session_id "
        "FROM billing_transactions WHERE store_id = %s AND purpose = 'subscription' "
        "ORDER BY created_at",
        (str(store_id),),
    ).fetchall()


def test_paid_plan_without_a_payment_provider_is_503_and_changes_nothing(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = stores.create("pool")
    before = subscription(control_conn, store["id"])
    monkeypatch.setattr(settings, "stripe_secret_key", None)
    url = f"/api/stores/{store['id']}/subscription"
    body = {"plan": "starter", "billing_cycle": "monthly"}
    responses = concurrently(client, [post(url, body, store)] * 20)
    assert Counter(r.status_code for r in responses) == {503: 20}
    for response in responses:
        assert response.headers["content-type"].startswith(PROBLEM)
        assert "STOREFLEET_STRIPE_SECRET_KEY" in response.json()["detail"]
    purchase = client.post(
        "/api/credits/purchase",
        json={"store_id": store["id"], "pack": "small"},
        headers=store["headers"],
    )
    assert purchase.status_code == 503  # the same answer as buying credits
    assert subscription(control_conn, store["id"]) == before
    assert grants(control_conn, store["id"]) == [(100, "plan:free:initial")]
    assert plan_checkouts(control_conn, store["id"]) == []
    # What costs nothing needs no provider: the current plan again is a no-op.
    same = change(client, store, "free")
    assert same.status_code == 200 and same.json()["plan"]["code"] == "free"
    bad = change(client, store, "gold")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "plan"


def test_twenty_concurrent_upgrades_share_one_checkout_and_grant_once(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, fake_stripe: FakeStripe
) -> None:
    store = stores.create("schema")
    sessions_before = len(fake_stripe.sessions)
    url = f"/api/stores/{store['id']}/subscription"
    body = {"plan": "starter", "billing_cycle": "annual"}
    responses = concurrently(client, [post(url, body, store)] * 20)
    assert Counter(r.status_code for r in responses) == {202: 20}, [r.text for r in responses]
    opened = {(r.json()["session_id"], r.json()["billing_transaction_id"]) for r in responses}
    assert len(opened) == 1
    ((session_id, tx_id),) = opened
    assert len(fake_stripe.sessions) == sessions_before + 1
    sent = [r for r in fake_stripe.requests if r["idempotency_key"] == f"plan-checkout:{tx_id}"]
    assert len(sent) == 1  # the others waited on the lock and found the session
    form = sent[0]["form"]
    assert form["mode"] == "subscription"
    assert form["line_items[0][price_data][recurring][interval]"] == "year"
    assert form["line_items[0][price_data][unit_amount]"] == "29000"
    assert form["metadata[plan]"] == "starter"
    assert form["subscription_data[metadata][store_id]"] == store["id"]
    expires = datetime.fromtimestamp(int(form["expires_at"]), UTC)
    assert timedelta(minutes=50) < expires - datetime.now(UTC) <= timedelta(hours=1)
    assert [(str(r[0]), r[1], r[2]) for r in plan_checkouts(control_conn, store["id"])] == [
        (tx_id, "pending", 29000)
    ]
    assert subscription(control_conn, store["id"])[:2] == ("free", "trial")
    assert grants(control_conn, store["id"]) == [(100, "plan:free:initial")]

    # Stripe confirms: the same event ten times, and ten other events about the session.
    paid = fake_stripe.pay(session_id)
    completed = event("checkout.session.completed", paid)
    others = [event("checkout.session.async_payment_succeeded", paid) for _ in range(10)]
    hooks = [
        (
            "POST",
            "/api/billing/stripe/webhook",
            {
                "content": p,
                "headers": {"Content-Type": "application/json", "Stripe-Signature": sign(p)},
            },
        )
        for p in [completed] * 10 + others
    ]
    results = concurrently(client, hooks)
    assert {r.status_code for r in results} == {200}
    assert Counter(r.json()["action"] for r in results)["subscribed"] == 1
    period_start = datetime.fromtimestamp(json.loads(completed)["created"], UTC)
    key = f"plan-grant:{store['id']}:starter:{period_start.isoformat()}"
    assert grants(control_conn, store["id"]) == [(100, "plan:free:initial"), (1000, key)]
    assert subscription(control_conn, store["id"]) == (
        "starter",
        "active",
        "annual",
        period_start,
        period_start + timedelta(days=365),
        paid["subscription"],
    )
    assert plan_checkouts(control_conn, store["id"])[0][1] == "succeeded"
    shown = client.get(url, headers=store["headers"]).json()
    assert (shown["plan"]["code"], shown["status"]) == ("starter", "active")
    # Asking for the plan the store now has is a no-op, not a second checkout.
    again = change(client, store, "starter", "annual")
    assert again.status_code == 200 and len(plan_checkouts(control_conn, store["id"])) == 1


def test_one_open_checkout_per_store(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, fake_stripe: FakeStripe
) -> None:
    store = stores.create("pool")
    first = change(client, store, "starter")
    assert first.status_code == 202
    other = change(client, store, "professional")
    assert other.status_code == 409 and other.json()["errors"][0]["field"] == "plan"
    assert "starter" in other.json()["detail"]
    assert change(client, store, "starter").json()["session_id"] == first.json()["session_id"]

    expired = {**fake_stripe.sessions[first.json()["session_id"]], "status": "expired"}
    assert post_webhook(client, event("checkout.session.expired", expired)).json()["action"] == (
        "expired"
    )
    second = change(client, store, "professional")
    assert second.status_code == 202 and second.json()["session_id"] != first.json()["session_id"]
    # An open checkout past its expiry no longer blocks another one.
    control_conn.execute(
        "UPDATE billing_transactions SET created_at = now() - interval '2 hours' WHERE id = %s",
        (second.json()["billing_transaction_id"],),
    )
    third = change(client, store, "starter", "annual")
    assert third.status_code == 202
    statuses = [r[1] for r in plan_checkouts(control_conn, store["id"])]
    assert statuses == ["expired", "expired", "pending"]
    assert grants(control_conn, store["id"]) == [(100, "plan:free:initial")]


def test_a_session_paid_short_never_switches(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, fake_stripe: FakeStripe
) -> None:
    store = stores.create("pool")
    opened = change(client, store, "professional").json()
    short = {**fake_stripe.pay(opened["session_id"]), "amount_total": 2900}
    refused = post_webhook(client, event("checkout.session.completed", short))
    assert refused.json()["action"] == "refused: amount mismatch"
    assert subscription(control_conn, store["id"])[:2] == ("free", "trial")
    assert grants(control_conn, store["id"]) == [(100, "plan:free:initial")]
    assert plan_checkouts(control_conn, store["id"])[0][1] == "failed"


def test_downgrades_need_no_payment_and_grant_nothing(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    fake_stripe: FakeStripe,
    cli: CliRunner,
) -> None:
    store = stores.create("database")
    paid = subscribe(client, fake_stripe, store, "starter")
    granted = grants(control_conn, store["id"])
    period = subscription(control_conn, store["id"])[3:5]
    free = change(client, store, "free")
    assert free.status_code == 200, free.text
    assert fake_stripe.subscriptions[paid["subscription"]]["status"] == "canceled"
    assert fake_stripe.requests[-1]["method"] == "DELETE"
    assert subscription(control_conn, store["id"]) == ("free", "active", "monthly", *period, None)
    assert grants(control_conn, store["id"]) == granted
    audited = control_conn.execute(
        "SELECT before->>'plan', after->>'plan', actor_label FROM audit_log "
        "WHERE entity_id = %s AND action = 'subscription.plan_changed'",
        (store["id"],),
    ).fetchall()
    assert audited == [("starter", "free", f"owner:{store['owner']['user']['id']}")]

    # A plan the admin set, paid up: a cheaper one needs no payment and no Stripe call.
    assert cli.invoke(cli_app, plan_args(store, "professional")).exit_code == 0
    granted = grants(control_conn, store["id"])
    period = subscription(control_conn, store["id"])[3:5]
    calls = len(fake_stripe.requests)
    cheaper = change(client, store, "starter")
    assert cheaper.status_code == 200 and cheaper.json()["plan"]["code"] == "starter"
    assert len(fake_stripe.requests) == calls
    assert subscription(control_conn, store["id"])[3:5] == period
    assert grants(control_conn, store["id"]) == granted
    # ... and back up is a payment again: the store now pays for starter only.
    assert change(client, store, "professional").status_code == 202


def test_a_new_paid_plan_replaces_and_cancels_the_old_stripe_subscription(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, fake_stripe: FakeStripe
) -> None:
    store = stores.create("pool")
    old = subscribe(client, fake_stripe, store, "professional")
    # Stripe bills this store: even a cheaper paid plan goes through Checkout.
    new = subscribe(client, fake_stripe, store, "starter")
    assert fake_stripe.subscriptions[old["subscription"]]["status"] == "canceled"
    assert fake_stripe.subscriptions[new["subscription"]]["status"] == "active"
    row = subscription(control_conn, store["id"])
    assert (row[0], row[1], row[5]) == ("starter", "active", new["subscription"])
    assert [g[0] for g in grants(control_conn, store["id"])] == [100, 5000, 1000]


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


def test_a_paid_session_applies_to_its_own_store_whatever_its_metadata_says(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, fake_stripe: FakeStripe
) -> None:
    a, b = stores.create("pool"), stores.create("schema")
    opened = change(client, a, "starter").json()
    paid = fake_stripe.pay(opened["session_id"])
    paid["metadata"] = {**paid["metadata"], "store_id": b["id"], "plan": "enterprise"}
    applied = post_webhook(client, event("checkout.session.completed", paid))
    assert applied.json()["action"] == "subscribed"
    assert subscription(control_conn, a["id"])[:2] == ("starter", "active")
    assert subscription(control_conn, b["id"])[:2] == ("free", "trial")
    assert grants(control_conn, b["id"]) == [(100, "plan:free:initial")]
