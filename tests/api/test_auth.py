"""The auth API end to end against real PostgreSQL."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import jwt
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.api.app import create_app
from storefleet.cli.main import app as cli
from storefleet.config import Settings, get_settings
from storefleet.control.accounts.revocations import prune_revoked_tokens
from storefleet.testing import STRONG_PASSWORD, Accounts, bearer

PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _fresh_login_throttle(client: TestClient) -> None:
    client.app.state.runtime.login_throttle.clear()


def assert_problem(response, status: int, field: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    for key in ("type", "title", "status", "detail"):
        assert key in body
    assert body["status"] == status
    if field is not None:
        assert field in {e["field"] for e in body.get("errors", [])}, body
    return body


def test_register_returns_token_and_agency_user(client: TestClient) -> None:
    response = client.post(
        "/api/auth/register",
        json={
            "email": "Owner@Example.com",
            "password": STRONG_PASSWORD,
            "first_name": "Olga",
            "last_name": "Owner",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["user"]["account_type"] == "agency"
    assert body["user"]["email"] == "Owner@example.com"
    assert {"id", "first_name", "last_name"} <= body["user"].keys()
    assert "password" not in json.dumps(body).lower().replace("password_", "")
    me = client.get("/api/auth/me", headers=bearer(body["token"]))
    assert me.status_code == 200
    assert me.json()["id"] == body["user"]["id"]


def test_duplicate_email_in_any_case_is_409(client: TestClient, accounts: Accounts) -> None:
    user = accounts.register(email="dup@example.com")
    assert user["user"]
    for email in ("dup@example.com", "DUP@EXAMPLE.COM", "Dup@Example.Com"):
        response = client.post(
            "/api/auth/register",
            json={"email": email, "password": STRONG_PASSWORD, "first_name": "A", "last_name": "B"},
        )
        assert_problem(response, 409, "email")


def test_malformed_email_and_weak_password_name_the_field(client: TestClient) -> None:
    base = {"password": STRONG_PASSWORD, "first_name": "A", "last_name": "B"}
    for bad in ("not-an-email", "a@", "@b.com", "a b@c.com", ""):
        assert_problem(client.post("/api/auth/register", json={**base, "email": bad}), 422, "email")
    for weak in ("short1", "aaaaaaaaaaaa", "password123", "1234567890"):
        body = assert_problem(
            client.post(
                "/api/auth/register", json={**base, "email": "weak@example.com", "password": weak}
            ),
            422,
            "password",
        )
        assert "assword" in body["errors"][0]["message"]


def test_unknown_fields_and_missing_fields_refused(client: TestClient) -> None:
    response = client.post(
        "/api/auth/register",
        json={
            "email": "x@example.com",
            "password": STRONG_PASSWORD,
            "first_name": "A",
            "last_name": "B",
            "account_type": "platform_admin",
        },
    )
    assert_problem(response, 422, "account_type")
    assert_problem(client.post("/api/auth/register", json={"email": "x@example.com"}), 422)


def test_non_json_and_oversized_bodies_are_problems(client: TestClient) -> None:
    assert_problem(
        client.post(
            "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
        "body",
    )
    assert_problem(client.post("/api/auth/login", content=b"\xff\xfe\x00garbage"), 422)
    assert_problem(client.post("/api/auth/login", json=[1, 2, 3]), 422)
    big = b'{"email": "' + b"a" * 2_000_000 + b'"}'
    response = client.post(
        "/api/auth/login", content=big, headers={"content-type": "application/json"}
    )
    assert_problem(response, 413)


def test_sql_and_quotes_in_names_stored_literally(
    client: TestClient, accounts: Accounts, control_conn: psycopg.Connection
) -> None:
    nasty = "O'Brien\"; DROP TABLE accounts; --"
    user = accounts.register(first_name=nasty, last_name="Robert'); DELETE FROM stores;--")
    token = user["token"]
    me = client.get("/api/auth/me", headers=bearer(token)).json()
    assert me["first_name"] == nasty
    assert me["last_name"] == "Robert'); DELETE FROM stores;--"
    row = control_conn.execute(
        "SELECT first_name FROM accounts WHERE id = %s", (me["id"],)
    ).fetchone()
    assert row == (nasty,)


def test_login_wrong_credentials_same_message(client: TestClient, accounts: Accounts) -> None:
    user = accounts.register()
    email = user["user"]["email"]  # type: ignore[index]
    wrong_pw = assert_problem(
        client.post("/api/auth/login", json={"email": email, "password": "Wrong-passw0rd!"}), 401
    )
    no_user = assert_problem(
        client.post(
            "/api/auth/login", json={"email": "nobody-here@example.com", "password": "Whatever-1!x"}
        ),
        401,
    )
    assert wrong_pw["detail"] == no_user["detail"]
    ok = client.post("/api/auth/login", json={"email": email.upper(), "password": STRONG_PASSWORD})
    assert ok.status_code == 200
    assert ok.json()["user"]["last_login_at"] is not None


def test_repeated_failures_get_429_with_retry_after(client: TestClient, accounts: Accounts) -> None:
    user = accounts.register()
    email = user["user"]["email"]  # type: ignore[index]
    statuses = [
        client.post(
            "/api/auth/login", json={"email": email, "password": "Wrong-passw0rd!"}
        ).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
    blocked = client.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD})
    body = assert_problem(blocked, 429)
    assert int(blocked.headers["Retry-After"]) >= 1
    assert "try again" in body["detail"].lower()


def test_profile_update_and_audit(
    client: TestClient, accounts: Accounts, control_conn: psycopg.Connection
) -> None:
    user = accounts.register()
    headers = bearer(user["token"])
    response = client.patch(
        "/api/auth/profile",
        headers=headers,
        json={
            "phone": "+44 20 7946 0958",
            "company": "Acme 'Ltd'",
            "avatar_url": "https://x.io/a.png",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["company"] == "Acme 'Ltd'"
    assert_problem(client.patch("/api/auth/profile", headers=headers, json={}), 422)
    assert_problem(
        client.patch("/api/auth/profile", headers=headers, json={"email": "new@example.com"}),
        422,
        "email",
    )
    assert_problem(
        client.patch(
            "/api/auth/profile", headers=headers, json={"avatar_url": "javascript:alert(1)"}
        ),
        422,
        "avatar_url",
    )
    assert_problem(
        client.patch("/api/auth/profile", headers=headers, json={"first_name": None}), 422
    )
    rows = control_conn.execute(
        "SELECT action, before, after FROM audit_log WHERE entity_id = %s ORDER BY occurred_at",
        (user["user"]["id"],),  # type: ignore[index]
    ).fetchall()
    actions = [r[0] for r in rows]
    assert actions == ["account.created", "account.profile_updated"]
    assert rows[1][2]["company"] == "Acme 'Ltd'"
    assert rows[1][1]["company"] is None


def test_audit_log_is_append_only(control_conn: psycopg.Connection, accounts: Accounts) -> None:
    accounts.register()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        control_conn.execute("UPDATE audit_log SET action = 'x'")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        control_conn.execute("DELETE FROM audit_log")


def _forge(token: str, **changes: object) -> str:
    header_b64, payload_b64, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=="))
    payload.update(changes)
    new_payload = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{header_b64}.{new_payload}.{sig}"


def test_tokens_refused(client: TestClient, accounts: Accounts) -> None:
    user = accounts.register()
    token = str(user["token"])
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    secret = client.app.state.runtime.tokens._keys[header["kid"]]
    refused = {
        "alg none": jwt.encode(claims, key=None, algorithm="none", headers={"kid": header["kid"]}),
        "other alg": jwt.encode(claims, secret, algorithm="HS512", headers={"kid": header["kid"]}),
        "expired": jwt.encode(
            {**claims, "iat": int(time.time()) - 100, "exp": int(time.time()) - 10},
            secret,
            algorithm="HS256",
            headers={"kid": header["kid"]},
        ),
        "tampered signature": token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        "edited claims": _forge(token, account_type="platform_admin"),
        "edited sub": _forge(token, sub="00000000-0000-0000-0000-000000000000"),
        "garbage": "not.a.token",
        "empty kid": jwt.encode(claims, secret, algorithm="HS256", headers={"kid": "nope"}),
    }
    for name, bad in refused.items():
        response = client.get("/api/auth/me", headers=bearer(bad))
        assert_problem(response, 401), name
    assert client.get("/api/auth/me", headers=bearer(token)).status_code == 200
    for bad_header in ("", "Bearer", "Basic abc", "Bearer  ", "Bearer a b c", "Token x"):
        assert_problem(client.get("/api/auth/me", headers={"Authorization": bad_header}), 401)


def test_logout_invalidates_token(client: TestClient, accounts: Accounts) -> None:
    user = accounts.register()
    token = user["token"]
    other = client.post(
        "/api/auth/login",
        json={"email": user["user"]["email"], "password": STRONG_PASSWORD},  # type: ignore[index]
    ).json()["token"]
    assert client.post("/api/auth/logout", headers=bearer(token)).status_code == 204
    assert_problem(client.get("/api/auth/me", headers=bearer(token)), 401)
    assert_problem(client.post("/api/auth/logout", headers=bearer(token)), 401)
    assert client.get("/api/auth/me", headers=bearer(other)).status_code == 200


def test_password_change_invalidates_earlier_tokens(client: TestClient, accounts: Accounts) -> None:
    user = accounts.register()
    email = user["user"]["email"]  # type: ignore[index]
    old = user["token"]
    wrong = client.post(
        "/api/auth/password",
        headers=bearer(old),
        json={"current_password": "Nope-nope-1!", "new_password": "An0ther-Secret!"},
    )
    assert_problem(wrong, 422, "current_password")
    weak = client.post(
        "/api/auth/password",
        headers=bearer(old),
        json={"current_password": STRONG_PASSWORD, "new_password": "short"},
    )
    assert_problem(weak, 422, "new_password")
    changed = client.post(
        "/api/auth/password",
        headers=bearer(old),
        json={"current_password": STRONG_PASSWORD, "new_password": "An0ther-Secret!"},
    )
    assert changed.status_code == 200, changed.text
    assert_problem(client.get("/api/auth/me", headers=bearer(old)), 401)
    assert client.get("/api/auth/me", headers=bearer(changed.json()["token"])).status_code == 200
    assert_problem(
        client.post("/api/auth/login", json={"email": email, "password": STRONG_PASSWORD}), 401
    )
    assert (
        client.post(
            "/api/auth/login", json={"email": email, "password": "An0ther-Secret!"}
        ).status_code
        == 200
    )


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


def test_unknown_route_and_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/api/nope"), 404)
    assert_problem(client.delete("/api/auth/login"), 405)


def _revoked(control_conn: psycopg.Connection, expires: str) -> str:
    jti = uuid.uuid4().hex
    control_conn.execute(
        "INSERT INTO revoked_tokens (jti, subject, expires_at) "
        f"VALUES (%s, 'agency:x', now() + interval '{expires}')",
        (jti,),
    )
    return jti


def _kept(control_conn: psycopg.Connection, *jtis: str) -> set[str]:
    rows = control_conn.execute(
        "SELECT jti FROM revoked_tokens WHERE jti = ANY(%s)", (list(jtis),)
    ).fetchall()
    return {r[0] for r in rows}


def test_expired_revoked_tokens_are_pruned_and_live_ones_kept(
    client: TestClient, accounts: Accounts, control_conn: psycopg.Connection
) -> None:
    token = str(accounts.register()["token"])
    assert client.post("/api/auth/logout", headers=bearer(token)).status_code == 204
    logged_out = jwt.decode(token, options={"verify_signature": False})["jti"]
    expired = [_revoked(control_conn, "-1 day") for _ in range(5)]
    just_expired = _revoked(control_conn, "-1 minute")  # kept a little for clock skew
    sessions = client.app.state.runtime.control_sessions  # type: ignore[attr-defined]
    removed = client.portal.call(lambda: prune_revoked_tokens(sessions, batch=2))  # type: ignore[union-attr]
    assert removed >= 5
    assert _kept(control_conn, *expired) == set()
    assert _kept(control_conn, logged_out, just_expired) == {logged_out, just_expired}
    assert_problem(client.get("/api/auth/me", headers=bearer(token)), 401)


def test_the_app_prunes_at_start_up(
    settings: Settings, control_db: URL, control_conn: psycopg.Connection
) -> None:
    expired, live = _revoked(control_conn, "-1 day"), _revoked(control_conn, "1 day")
    with TestClient(create_app(settings, control_db)):
        deadline = time.monotonic() + 10
        while _kept(control_conn, expired) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert _kept(control_conn, expired, live) == {live}


def test_tokens_prune_command(
    tmp_path: Path,
    control_db: URL,
    control_conn: psycopg.Connection,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    expired, live = _revoked(control_conn, "-2 days"), _revoked(control_conn, "2 days")
    monkeypatch.setenv("STOREFLEET_HOME", str(tmp_path))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["tokens", "prune"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "removed" in result.output and "expired revoked tokens" in result.output
    assert _kept(control_conn, expired, live) == {live}
