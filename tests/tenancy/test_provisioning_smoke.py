"""Stores are created and provisioned in every placement."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient

from storefleet.testing import Accounts, bearer

PLACEMENTS = ["pool", "schema", "database"]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_create_store_in_each_placement(
    client: TestClient, accounts: Accounts, control_conn: psycopg.Connection, placement: str
) -> None:
    owner = accounts.register()
    response = client.post(
        "/api/stores",
        headers=bearer(owner["token"]),
        json={"name": f"Shop {placement}", "slug": f"shop-{placement}", "placement": placement},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["placement"] == placement
    assert body["provisioning_status"] == "ready", control_conn.execute(
        "SELECT last_error FROM store_databases"
    ).fetchall()
    assert body["status"] == "active"
    listed = client.get("/api/stores", headers=bearer(owner["token"])).json()
    assert [s["id"] for s in listed["items"]] == [body["id"]]
