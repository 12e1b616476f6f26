"""Calls of a store's admin API shared by the tax, shipping and payments tests."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from storefleet.testing import unique_name

Shop = dict[str, Any]


def url(store: Shop, suffix: str) -> str:
    return f"/api/stores/{store['id']}{suffix}"


def post(client: TestClient, store: Shop, suffix: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(url(store, suffix), headers=store["headers"], json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def code() -> str:
    return unique_name("c").replace("_", "-").lower()[:40]
