"""A move the source database refuses answers 409 with the database's words, never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.testing import Stores
from tests.tenancy.test_connect_database import ExternalDb


@pytest.fixture
def external_super(pg_server: URL) -> Iterator[ExternalDb]:
    db = ExternalDb(pg_server, owner_is_superuser=True)
    yield db
    db.drop()


def test_an_owner_database_that_breaks_the_copy_is_a_409_and_the_store_stays(
    client: TestClient, stores: Stores, external_super: ExternalDb
) -> None:
    store = stores.create("pool")
    base = f"/api/stores/{store['id']}"
    moved = client.post(
        f"{base}/connect-database",
        headers=store["headers"],
        json={"database_url": external_super.url()},
    )
    assert moved.status_code == 200, moved.text
    with external_super.superuser_conn() as conn:
        conn.execute("ALTER TABLE tenant.categories RENAME COLUMN name TO title")
    back = client.post(f"{base}/move", headers=store["headers"], json={"placement": "pool"})
    assert back.status_code == 409, back.text
    assert "stays where it was" in back.json()["detail"]
    assert "name" in back.json()["detail"]  # the database's own complaint
    # Whole where it was: the owner's database still serves the store.
    profile = client.get(f"{base}/profile", headers=store["headers"])
    assert profile.status_code == 200, profile.text
    with external_super.superuser_conn() as conn:
        rows = conn.execute("SELECT count(*) FROM tenant.stores").fetchone()
    assert rows == (1,)
