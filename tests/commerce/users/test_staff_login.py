"""Staff sign-in: every wrong credential fails alike, and repeated failures are throttled."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from storefleet.testing import STRONG_PASSWORD
from tests.commerce.users.helpers import (
    STAFF_PASSWORD,
    Shop,
    added,
    assert_problem,
    login,
    new_email,
)


def test_staff_login_fails_alike_for_every_wrong_credential(
    client: TestClient, shop: Shop, other_shop: Shop
) -> None:
    member = added(client, shop, shop["headers"])
    owner = shop["owner"]
    attempts = [
        {"store_id": str(uuid.uuid4()), "email": member["email"], "password": STAFF_PASSWORD},
        {"store_id": other_shop["id"], "email": member["email"], "password": STAFF_PASSWORD},
        {"store_id": shop["id"], "email": new_email("nobody"), "password": STAFF_PASSWORD},
        {"store_id": shop["id"], "email": member["email"], "password": STAFF_PASSWORD + "x"},
        {"store_id": shop["id"], "email": owner["user"]["email"], "password": STRONG_PASSWORD},
    ]
    details = set()
    for attempt in attempts:
        client.app.state.runtime.login_throttle.clear()
        details.add(
            assert_problem(client.post("/api/auth/staff/login", json=attempt), 401)["detail"]
        )
    assert len(details) == 1
    # The owner signs in through the account login instead.
    response = client.post(
        "/api/auth/login", json={"email": owner["user"]["email"], "password": STRONG_PASSWORD}
    )
    assert response.status_code == 200, response.text
    # Email match is case-insensitive.
    assert login(client, shop, member["email"].upper()).status_code == 200
    assert_problem(
        client.post("/api/auth/staff/login", json={"email": member["email"], "password": "x"}),
        422,
        "store_id",
    )


def test_repeated_staff_login_failures_are_throttled(client: TestClient, shop: Shop) -> None:
    member = added(client, shop, shop["headers"])
    limit = client.app.state.runtime.login_throttle.max_failures
    for _ in range(limit):
        assert_problem(login(client, shop, member["email"], "Wrong-Passw0rd!"), 401)
    response = login(client, shop, member["email"])
    assert_problem(response, 429)
    assert int(response.headers["Retry-After"]) >= 1
