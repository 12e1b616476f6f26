"""The parties of the move and import attacks, and what an owner plants in their database."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import URL

from storefleet.db.urls import libpq_conninfo
from tests.isolation.attack import STAFF_PASSWORD, check, staff_login

SYSTEM_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


# ---- the parties -----------------------------------------------------------------------


def add_admin(client: TestClient, store: dict[str, Any]) -> str:
    """A staff admin of ``store`` (signing in works); returns the email."""
    email = f"mole-{uuid.uuid4().hex[:10]}@example.com"
    check(
        client.post(
            f"/api/stores/{store['id']}/staff",
            headers=store["headers"],
            json={
                "email": email,
                "first_name": "Mole",
                "last_name": "Admin",
                "role": "admin",
                "password": STAFF_PASSWORD,
            },
        ),
        201,
    )
    staff_login(client, str(store["id"]), email)  # positive control: the login route works
    return email


def sign_in(client: TestClient, store_id: uuid.UUID, email: str) -> int:
    body = {"store_id": str(store_id), "email": email, "password": STAFF_PASSWORD}
    return client.post("/api/auth/staff/login", json=body).status_code


def users_by_store(url: URL, schema: str) -> dict[uuid.UUID, int] | None:
    """Rows of ``schema.users`` per store_id, as superuser; None when nothing is there."""
    try:
        conn = psycopg.connect(libpq_conninfo(url), autocommit=True)
    except psycopg.OperationalError:
        return None  # the database does not exist
    with conn:
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        if found is None:
            return None
        rows = conn.execute(
            sql.SQL("SELECT store_id, count(*) FROM {}.users GROUP BY store_id").format(
                sql.Identifier(schema)
            )
        ).fetchall()
    return {r[0]: int(r[1]) for r in rows}
