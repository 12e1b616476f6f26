"""Nothing secret reaches a log line or a response during a register/login/logout run."""

from __future__ import annotations

import logging

import psycopg
import pytest
from fastapi.testclient import TestClient

from storefleet.testing import bearer

PASSWORD = "Sup3r-Secret-Pa55!"


def test_register_login_logout_logs_hold_no_secrets(
    client: TestClient, control_conn: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reg = client.post(
        "/api/auth/register",
        json={
            "email": "logs@example.com",
            "password": PASSWORD,
            "first_name": "L",
            "last_name": "G",
        },
    )
    assert reg.status_code == 201
    login = client.post("/api/auth/login", json={"email": "logs@example.com", "password": PASSWORD})
    token = login.json()["token"]
    client.post("/api/auth/login", json={"email": "logs@example.com", "password": "Wr0ng-pass!!"})
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 200
    assert client.post("/api/auth/logout", headers=bearer(token)).status_code == 204

    password_hash = control_conn.execute(
        "SELECT password_hash FROM accounts WHERE email = 'logs@example.com'"
    ).fetchone()[0]
    runtime = client.app.state.runtime
    secrets = [PASSWORD, "Wr0ng-pass!!", password_hash, token, reg.json()["token"]]
    secrets += [key.secret.hex() for key in runtime.keyring._state[0]]
    secrets += [secret.hex() for secret in runtime.tokens._keys.values()]
    assert caplog.records, "expected some log output to inspect"
    text = caplog.text
    for secret in secrets:
        assert secret not in text
    for response in (reg, login):
        body = response.text
        assert PASSWORD not in body and password_hash not in body
        assert "password" not in response.json()["user"]
