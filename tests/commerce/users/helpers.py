"""Staff added, listed and signed in through the API, for the staff tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from storefleet.testing import unique_name

PROBLEM = "application/problem+json"
STAFF_PASSWORD = "Staff-Passw0rd!x"
Shop = dict[str, Any]


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if field is not None:
        assert field in {e["field"] for e in body.get("errors", [])}, body
    return body


def staff_url(store: Shop, suffix: str = "") -> str:
    return f"/api/stores/{store['id']}/staff{suffix}"


def new_email(tag: str = "staff") -> str:
    return f"{tag}-{unique_name('e').replace('_', '-')}@example.com"


def add(
    client: TestClient,
    store: Shop,
    headers: dict[str, str],
    *,
    role: str = "staff",
    email: str | None = None,
    password: str = STAFF_PASSWORD,
) -> Any:
    return client.post(
        staff_url(store),
        headers=headers,
        json={
            "email": email or new_email(role),
            "first_name": "Sam",
            "last_name": role.title(),
            "role": role,
            "password": password,
        },
    )


def added(client: TestClient, store: Shop, headers: dict[str, str], role: str = "staff") -> Shop:
    response = add(client, store, headers, role=role)
    assert response.status_code == 201, response.text
    user: Shop = response.json()
    return user


def login(client: TestClient, store: Shop, email: str, password: str = STAFF_PASSWORD) -> Any:
    return client.post(
        "/api/auth/staff/login",
        json={"store_id": store["id"], "email": email, "password": password},
    )
