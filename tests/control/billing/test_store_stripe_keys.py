"""A store's own Stripe keys: encrypted, bound to the store, never returned, owner-only."""

from __future__ import annotations

import logging
import secrets
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient

from storefleet.control.billing import credentials
from storefleet.control.secrets.service import ENCRYPTED_COLUMNS, count_by_key_id
from storefleet.runtime import Runtime
from storefleet.security.keyring import DecryptionError
from storefleet.testing import Stores, bearer


def _stripe_keys(**overrides: str) -> dict[str, str]:
    keys = {
        "secret_key": "sk_test_" + secrets.token_hex(12),
        "publishable_key": "pk_test_" + secrets.token_hex(12),
        "webhook_secret": "whsec_" + secrets.token_hex(12),
    }
    keys.update(overrides)
    return keys


def test_store_stripe_keys_are_encrypted_bound_and_never_returned(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store, other = stores.create("pool"), stores.create("database")
    url = f"/api/stores/{store['id']}/stripe-keys"
    before = client.get(url, headers=store["headers"])
    assert before.status_code == 200 and before.json()["configured"] is False

    keys = _stripe_keys()
    responses = [client.put(url, json=keys, headers=store["headers"])]
    assert responses[0].status_code == 200, responses[0].text
    assert responses[0].json() == {
        "configured": True,
        "publishable_key": keys["publishable_key"],
        "livemode": False,
    }
    responses.append(client.get(url, headers=store["headers"]))
    assert responses[-1].json() == responses[0].json()

    bad = {
        "secret_key": _stripe_keys(secret_key="pk_test_abc"),
        "publishable_key": _stripe_keys(publishable_key="sk_test_abc"),
        "webhook_secret": _stripe_keys(webhook_secret="secret"),
    }
    for field, body in bad.items():
        refused = client.put(url, json=body, headers=store["headers"])
        responses.append(refused)
        assert refused.status_code == 422, field
        assert refused.json()["errors"][0]["field"] == field
    mixed = client.put(
        url,
        json=_stripe_keys(publishable_key="pk_live_" + secrets.token_hex(8)),
        headers=store["headers"],
    )
    responses.append(mixed)
    assert mixed.status_code == 422

    row = control_conn.execute(
        "SELECT ciphertext, publishable_key FROM store_payment_credentials WHERE store_id = %s",
        (store["id"],),
    ).fetchone()
    assert row is not None and row[1] == keys["publishable_key"]
    blob = bytes(row[0])
    assert keys["secret_key"].encode() not in blob and keys["webhook_secret"].encode() not in blob

    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]

    async def load(store_id: str) -> credentials.StoreStripeKeys:
        async with runtime.control_sessions() as s:
            return await credentials.load_stripe_keys(s, runtime.keyring, uuid.UUID(store_id))

    loaded = client.portal.call(load, str(store["id"]))  # type: ignore[union-attr]
    assert (loaded.secret_key, loaded.webhook_secret) == (
        keys["secret_key"],
        keys["webhook_secret"],
    )
    assert keys["secret_key"] not in repr(loaded)

    # The ciphertext is bound to its store: copied onto another store's row, it does not open.
    control_conn.execute(
        "INSERT INTO store_payment_credentials (store_id, provider, publishable_key, livemode, "
        "ciphertext) VALUES (%s, 'stripe', 'pk_test_x1', false, %s)",
        (other["id"], blob),
    )
    with pytest.raises(DecryptionError):
        client.portal.call(load, str(other["id"]))  # type: ignore[union-attr]
    assert any(c.table == "store_payment_credentials" for c in ENCRYPTED_COLUMNS)
    counts = client.portal.call(count_by_key_id, runtime.control_engine)  # type: ignore[union-attr]
    assert sum(counts.values()) >= 2

    gone = client.delete(url, headers=store["headers"])
    assert gone.status_code == 204
    assert client.get(url, headers=store["headers"]).json()["configured"] is False

    for response in responses:
        assert keys["secret_key"] not in response.text
        assert keys["webhook_secret"] not in response.text
    assert keys["secret_key"] not in caplog.text and keys["webhook_secret"] not in caplog.text


def test_staff_cannot_set_stripe_keys(client: TestClient, stores: Stores) -> None:
    store = stores.create("schema")
    email = f"st-{uuid.uuid4().hex[:8]}@example.com"
    added = client.post(
        f"/api/stores/{store['id']}/staff",
        headers=store["headers"],
        json={
            "email": email,
            "first_name": "S",
            "last_name": "T",
            "role": "admin",
            "password": "Staff-Passw0rd!x",
        },
    )
    assert added.status_code == 201, added.text
    login = client.post(
        "/api/auth/staff/login",
        json={"store_id": store["id"], "email": email, "password": "Staff-Passw0rd!x"},
    )
    staff = bearer(login.json()["token"])
    url = f"/api/stores/{store['id']}/stripe-keys"
    assert client.put(url, json=_stripe_keys(), headers=staff).status_code == 403
    assert client.get(url, headers=staff).status_code == 403
