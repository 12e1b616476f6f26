"""Store A's owner and staff against store B's credits, plan, usage and payment routes.

Every attempt answers 404 exactly like a store that does not exist, and B's ledger,
balance, plan, payments and Stripe keys stay as they were; the same calls on A's own store
work for A's owner (the positive control). Run in every placement.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.db.urls import libpq_conninfo
from storefleet.testing import PLACEMENTS, Stores, bearer
from tests.isolation.attack import Request, refused_then_allowed

SERVICE = "isolation.probe"
STAFF_PASSWORD = "Staff-Passw0rd!x"


@pytest.fixture(scope="module", autouse=True)
def price(control_db: URL) -> None:
    with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO service_credit_costs (id, service_key, cost, is_active, description, "
            "effective_from) VALUES (gen_random_uuid(), %s, 1, true, '', "
            "now() - interval '1 minute')",
            (SERVICE,),
        )


def staff_token(client: TestClient, store: dict[str, Any]) -> dict[str, str]:
    email = f"iso-{uuid.uuid4().hex[:10]}@example.com"
    added = client.post(
        f"/api/stores/{store['id']}/staff",
        headers=store["headers"],
        json={
            "email": email,
            "first_name": "Iso",
            "last_name": "Staff",
            "role": "admin",
            "password": STAFF_PASSWORD,
        },
    )
    assert added.status_code == 201, added.text
    login = client.post(
        "/api/auth/staff/login",
        json={"store_id": store["id"], "email": email, "password": STAFF_PASSWORD},
    )
    assert login.status_code == 200, login.text
    return bearer(login.json()["token"])


def stripe_keys() -> dict[str, str]:
    return {
        "secret_key": "sk_test_" + secrets.token_hex(10),
        "publishable_key": "pk_test_" + secrets.token_hex(10),
    }


def snapshot(control_conn: psycopg.Connection, store_id: str) -> tuple[Any, ...]:
    """Everything of B's that an attack could change."""
    one = control_conn.execute
    return (
        one("SELECT balance FROM credit_balances WHERE store_id = %s", (store_id,)).fetchone(),
        one(
            "SELECT count(*), coalesce(sum(amount), 0) FROM credit_transactions "
            "WHERE store_id = %s",
            (store_id,),
        ).fetchone(),
        one(
            "SELECT plan_id, status, billing_cycle, current_period_start FROM subscriptions "
            "WHERE store_id = %s",
            (store_id,),
        ).fetchone(),
        one(
            "SELECT count(*) FROM billing_transactions WHERE store_id = %s", (store_id,)
        ).fetchone(),
        one(
            "SELECT publishable_key, ciphertext FROM store_payment_credentials WHERE store_id = %s",
            (store_id,),
        ).fetchone(),
    )


def attacks(store_id: str, plan: str = "enterprise") -> list[Request]:
    """The store's billing routes; its own owner is sent ``plan="free"`` (a paid plan wants
    payment, and this platform has no payment provider: 503, checked below)."""
    base = f"/api/stores/{store_id}"
    return [
        ("GET", f"{base}/credits", None),
        ("POST", f"{base}/credits/spend", {"service": SERVICE, "idempotency_key": "steal-1"}),
        ("GET", f"{base}/credits/transactions", None),
        ("GET", f"{base}/subscription", None),
        ("POST", f"{base}/subscription", {"plan": plan, "billing_cycle": "annual"}),
        ("GET", f"{base}/usage", None),
        ("GET", f"{base}/stripe-keys", None),
        ("PUT", f"{base}/stripe-keys", stripe_keys()),
        ("DELETE", f"{base}/stripe-keys", None),
    ]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_a_cannot_reach_b_credits_plan_usage_or_payments(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, placement: str
) -> None:
    a, b = stores.create(placement), stores.create(placement)
    a_staff = staff_token(client, a)
    b_keys = stripe_keys()
    assert (
        client.put(f"/api/stores/{b['id']}/stripe-keys", json=b_keys, headers=b["headers"])
    ).status_code == 200
    spent = client.post(
        f"/api/stores/{b['id']}/credits/spend",
        json={"service": SERVICE, "idempotency_key": "b-own"},
        headers=b["headers"],
    )
    assert spent.status_code == 200, spent.text
    before = snapshot(control_conn, str(b["id"]))

    # The same requests work on A's own store (so a 404 below is the wall, not a broken route).
    own = client.post(
        f"/api/stores/{a['id']}/credits/spend",
        json={"service": SERVICE, "idempotency_key": "a-own"},
        headers=a_staff,
    )
    assert own.status_code == 200, own.text
    assert client.get(f"/api/stores/{a['id']}/usage", headers=a_staff).status_code == 200
    a_before = snapshot(control_conn, str(a["id"]))
    own_plan = f"/api/stores/{a['id']}/subscription"
    assert client.post(own_plan, json={"plan": "free"}, headers=a["headers"]).status_code == 200
    # A paid plan needs payment; this platform has no payment provider: 503, nothing changes.
    paid = client.post(own_plan, json={"plan": "enterprise"}, headers=a["headers"])
    assert paid.status_code == 503, paid.text
    assert client.post(own_plan, json={"plan": "free"}, headers=a_staff).status_code == 403
    assert snapshot(control_conn, str(a["id"])) == a_before

    missing = client.get(f"/api/stores/{uuid.uuid4()}/credits", headers=a["headers"])
    assert missing.status_code == 404
    own_calls = attacks(str(a["id"]), plan="free")
    for who, headers in (("owner", a["headers"]), ("staff", a_staff)):
        refused = refused_then_allowed(
            client, attacks(str(b["id"])), headers, own_calls, a["headers"]
        )
        for (_, url, _), response in zip(attacks(str(b["id"])), refused, strict=True):
            assert response.json()["detail"] == missing.json()["detail"], (who, url)

    [truth] = refused_then_allowed(
        client,
        [("GET", f"/api/credits/balance?store_id={b['id']}", None)],
        a["headers"],
        [("GET", f"/api/credits/balance?store_id={a['id']}", None)],
        a["headers"],
    )
    bought = client.post(
        "/api/credits/purchase", json={"store_id": b["id"], "pack": "small"}, headers=a["headers"]
    )
    assert bought.status_code == 404
    assert bought.json()["detail"] == truth.json()["detail"]
    # A's own purchase passes the store check and reaches the payment provider: none here.
    own_purchase = client.post(
        "/api/credits/purchase", json={"store_id": a["id"], "pack": "small"}, headers=a["headers"]
    )
    assert own_purchase.status_code == 503, own_purchase.text
    assert own_purchase.json()["detail"].startswith("Payments are not configured")
    for url, kwargs in (
        ("/api/credits/balance", {"params": {"store_id": b["id"]}}),
        ("/api/credits/purchase", {"json": {"store_id": b["id"], "pack": "small"}}),
    ):
        method = "GET" if "params" in kwargs else "POST"
        staff_try = client.request(method, url, headers=a_staff, **kwargs)
        assert staff_try.status_code in (401, 403, 404), staff_try.text
        assert "balance" not in staff_try.json()

    assert snapshot(control_conn, str(b["id"])) == before
    mine = client.get(f"/api/stores/{b['id']}/stripe-keys", headers=b["headers"]).json()
    assert mine == {
        "configured": True,
        "publishable_key": b_keys["publishable_key"],
        "livemode": False,
    }
