"""Credit purchases through the real ``stripe`` SDK against a local Stripe stand-in
(``tests/control/billing/stripe_server.py``): webhooks credit once, forgeries never."""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.config import Settings
from storefleet.testing import Accounts, Stores, bearer, make_settings
from tests.control.billing.stripe_server import (
    PLATFORM_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
    event,
    post_webhook,
    sign,
)

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def settings(
    tmp_path_factory: pytest.TempPathFactory, control_db: URL, fake_stripe: FakeStripe
) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"),
        control_db,
        stripe_secret_key=PLATFORM_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.url,
        public_base_url="https://shop.example",
        credit_outbox_enabled=True,  # this module checks the tenant cache catches up by itself
    )


def paid(session: dict[str, Any]) -> dict[str, Any]:
    return {
        **session,
        "status": "complete",
        "payment_status": "paid",
        "payment_intent": "pi_" + secrets.token_hex(8),
    }


def balance(control_conn: psycopg.Connection, store_id: object) -> int:
    row = control_conn.execute(
        "SELECT balance FROM credit_balances WHERE store_id = %s", (str(store_id),)
    ).fetchone()
    assert row is not None
    return int(row[0])


def billing_rows(control_conn: psycopg.Connection, store_id: object) -> list[tuple[Any, ...]]:
    return control_conn.execute(
        "SELECT id, status, pack, credits, amount, currency, provider_session_id, "
        "provider_payment_id FROM billing_transactions WHERE store_id = %s ORDER BY created_at",
        (str(store_id),),
    ).fetchall()


def purchase(client: TestClient, store: dict[str, Any], pack: str = "small") -> Any:
    return client.post(
        "/api/credits/purchase",
        json={"store_id": store["id"], "pack": pack},
        headers=store["headers"],
    )


def test_full_purchase_webhook_and_replays_credit_once(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    fake_stripe: FakeStripe,
    settings: Settings,
    control_db: URL,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = stores.create("schema")
    assert balance(control_conn, store["id"]) == 100

    response = purchase(client, store, "medium")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["session_id"].startswith("cs_test_")
    assert body["checkout_url"].endswith(body["session_id"])
    sent = fake_stripe.requests[-1]
    assert sent["authorization"] == f"Bearer {PLATFORM_KEY}"
    assert sent["form"]["mode"] == "payment"
    assert sent["form"]["metadata[store_id]"] == store["id"]
    assert sent["form"]["metadata[pack]"] == "medium"
    assert sent["form"]["metadata[billing_transaction_id]"] == body["billing_transaction_id"]
    assert sent["form"]["client_reference_id"] == body["billing_transaction_id"]
    assert sent["form"]["line_items[0][price_data][unit_amount]"] == "2000"
    assert sent["form"]["success_url"].startswith("https://shop.example/")
    rows = billing_rows(control_conn, store["id"])
    assert [(str(r[0]), r[1], r[2], r[3], r[4], r[6]) for r in rows] == [
        (body["billing_transaction_id"], "pending", "medium", 2500, 2000, body["session_id"])
    ]
    assert balance(control_conn, store["id"]) == 100  # nothing before the webhook

    session = paid(fake_stripe.sessions[body["session_id"]])
    completed = event("checkout.session.completed", session)
    first = post_webhook(client, completed)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "duplicate": False, "action": "credited"}
    assert balance(control_conn, store["id"]) == 2600
    status, payment_id = billing_rows(control_conn, store["id"])[0][1::6]
    assert (status, payment_id) == ("succeeded", session["payment_intent"])

    # The same event again, and a different event about the same session: no second credit.
    again = post_webhook(client, completed)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    other = post_webhook(client, event("checkout.session.async_payment_succeeded", session))
    assert other.status_code == 200 and other.json()["duplicate"] is False
    assert balance(control_conn, store["id"]) == 2600
    purchases = control_conn.execute(
        "SELECT amount, idempotency_key, reference->>'billing_transaction_id' "
        "FROM credit_transactions WHERE store_id = %s AND kind = 'purchase'",
        (store["id"],),
    ).fetchall()
    assert purchases == [(2500, f"stripe:{body['session_id']}", body["billing_transaction_id"])]

    # The tenant's cached balance catches up through the outbox.
    deadline = time.monotonic() + 10
    cached = None
    while time.monotonic() < deadline:
        cached = client.get(f"/api/stores/{store['id']}/credits", headers=store["headers"]).json()
        if cached["balance"] == 2600:
            break
        time.sleep(0.1)
    assert cached is not None and cached["balance"] == 2600

    from storefleet.cli.main import app as cli
    from storefleet.config import get_settings

    monkeypatch.setenv("STOREFLEET_HOME", str(settings.home))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        verified = CliRunner().invoke(cli, ["credits", "verify"])
    finally:
        get_settings.cache_clear()
    assert verified.exit_code == 0, verified.output
    assert PLATFORM_KEY not in caplog.text and WEBHOOK_SECRET not in caplog.text


def test_forged_stale_or_tampered_webhooks_credit_nothing(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, fake_stripe: FakeStripe
) -> None:
    store = stores.create("pool")
    body = purchase(client, store).json()
    session = paid(fake_stripe.sessions[body["session_id"]])
    payload = event("checkout.session.completed", session)
    attempts = [
        sign(payload, secret="whsec_" + secrets.token_hex(16)),  # forged: wrong secret
        sign(payload, at=int(time.time()) - 301),  # stale: beyond the 300 s tolerance
        "t=1,v1=deadbeef",
        "",
    ]
    for signature in attempts:
        response = post_webhook(client, payload, signature)
        assert response.status_code == 400, signature
        assert response.headers["content-type"].startswith(PROBLEM)
    tampered = payload.replace('"paid"', '"paid" ', 1)
    assert post_webhook(client, tampered, sign(payload)).status_code == 400
    bigger = json.loads(payload)
    bigger["data"]["object"]["amount_total"] = 1
    assert post_webhook(client, json.dumps(bigger), sign(payload)).status_code == 400
    no_header = client.post(
        "/api/billing/stripe/webhook", content=payload, headers={"Content-Type": "application/json"}
    )
    assert no_header.status_code == 400

    assert balance(control_conn, store["id"]) == 100
    assert billing_rows(control_conn, store["id"])[0][1] == "pending"
    event_id = json.loads(payload)["id"]
    assert control_conn.execute(
        "SELECT count(*) FROM provider_events WHERE event_id = %s", (event_id,)
    ).fetchone() == (0,)
    # The genuine delivery still works afterwards.
    assert post_webhook(client, payload).json()["action"] == "credited"
    assert balance(control_conn, store["id"]) == 600


def test_expired_failed_and_wrong_amount_sessions_never_credit(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, fake_stripe: FakeStripe
) -> None:
    store = stores.create("pool")
    expired = purchase(client, store).json()
    failed = purchase(client, store).json()
    cheated = purchase(client, store, "large").json()
    session = fake_stripe.sessions[expired["session_id"]]
    response = post_webhook(
        client, event("checkout.session.expired", {**session, "status": "expired"})
    )
    assert response.json()["action"] == "expired"
    intent = {
        "id": "pi_" + secrets.token_hex(8),
        "object": "payment_intent",
        "metadata": fake_stripe.sessions[failed["session_id"]]["metadata"],
        "last_payment_error": {"code": "card_declined"},
    }
    assert (
        post_webhook(client, event("payment_intent.payment_failed", intent)).json()["action"]
        == "failed"
    )
    wrong = {**paid(fake_stripe.sessions[cheated["session_id"]]), "amount_total": 500}
    assert (
        post_webhook(client, event("checkout.session.completed", wrong))
        .json()["action"]
        .startswith("refused")
    )
    unknown = post_webhook(client, event("customer.created", {"id": "cus_1"}))
    assert unknown.status_code == 200 and unknown.json()["action"].startswith("ignored")

    statuses = {str(r[0]): r[1] for r in billing_rows(control_conn, store["id"])}
    assert statuses == {
        expired["billing_transaction_id"]: "expired",
        failed["billing_transaction_id"]: "failed",
        cheated["billing_transaction_id"]: "failed",
    }
    assert balance(control_conn, store["id"]) == 100


def test_provider_error_is_recorded_and_answered_503(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, fake_stripe: FakeStripe
) -> None:
    store = stores.create("pool")
    fake_stripe.fail_next = True
    response = purchase(client, store)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM)
    rows = billing_rows(control_conn, store["id"])
    assert [(r[1], r[6]) for r in rows] == [("failed", None)]


def test_purchase_refusals(
    client: TestClient,
    stores: Stores,
    accounts: Accounts,
    control_conn: psycopg.Connection,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = stores.create("pool")
    unknown = purchase(client, store, "gigantic")
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "pack"
    assert "gigantic" in unknown.json()["detail"]

    stranger = accounts.register()
    foreign = client.post(
        "/api/credits/purchase",
        json={"store_id": store["id"], "pack": "small"},
        headers=bearer(stranger["token"]),
    )
    assert foreign.status_code == 404
    missing = client.post(
        "/api/credits/purchase",
        json={"store_id": str(uuid.uuid4()), "pack": "small"},
        headers=store["headers"],
    )
    assert missing.status_code == 404 and missing.json()["detail"] == foreign.json()["detail"]
    smuggled = client.post(
        "/api/credits/purchase",
        json={"store_id": store["id"], "pack": "small", "credits": 10**9},
        headers=store["headers"],
    )
    assert smuggled.status_code == 422

    monkeypatch.setattr(settings, "stripe_secret_key", None)
    off = purchase(client, store)
    assert off.status_code == 503
    assert off.headers["content-type"].startswith(PROBLEM)
    assert "STOREFLEET_STRIPE_SECRET_KEY" in off.json()["detail"]
    assert billing_rows(control_conn, store["id"]) == []
