"""Store staff: adding, listing, removing and logging out, end to end in every placement."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from psycopg.rows import dict_row
from sqlalchemy.engine import URL

from storefleet.db.urls import libpq_conninfo, with_database
from storefleet.testing import bearer
from tests.commerce.users.helpers import (
    STAFF_PASSWORD,
    Shop,
    add,
    added,
    assert_problem,
    login,
    new_email,
    staff_url,
)

LISTED_FIELDS = {
    "id",
    "email",
    "first_name",
    "last_name",
    "role",
    "account_type",
    "is_active",
    "last_login_at",
    "created_at",
}


@pytest.fixture
def tenant_db(
    pg_server: URL, control_conn: psycopg.Connection
) -> Iterator[Callable[[Shop], list[dict[str, Any]]]]:
    """Read a store's ``users`` rows straight from its tenant database, as the superuser."""

    def rows(store: Shop) -> list[dict[str, Any]]:
        found = control_conn.execute(
            "SELECT database_name, schema_name FROM store_databases WHERE store_id = %s",
            (store["id"],),
        ).fetchone()
        assert found is not None
        database, schema = found
        url = with_database(pg_server, database)
        with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
            conn.execute("SELECT set_config('storefleet.store_id', %s, false)", (store["id"],))
            cur = conn.cursor(row_factory=dict_row)
            return cur.execute(
                "SELECT * FROM users WHERE store_id = %s ORDER BY created_at, id", (store["id"],)
            ).fetchall()

    yield rows


def staff_headers(client: TestClient, store: Shop, email: str) -> dict[str, str]:
    response = login(client, store, email)
    assert response.status_code == 200, response.text
    return bearer(response.json()["token"])


def listed(client: TestClient, store: Shop, headers: dict[str, str], **params: Any) -> list[Shop]:
    response = client.get(staff_url(store), headers=headers, params=params)
    assert response.status_code == 200, response.text
    items: list[Shop] = response.json()["items"]
    return items


def test_owner_lists_staff_with_the_synced_owner_row(
    client: TestClient, shop: Shop, tenant_db: Callable[[Shop], list[dict[str, Any]]]
) -> None:
    owner = shop["owner"]["user"]
    items = listed(client, shop, shop["headers"], role="owner")
    assert len(items) == 1
    row = items[0]
    assert set(row) == LISTED_FIELDS
    assert row["role"] == "owner"
    assert row["account_type"] == "agency"
    assert row["email"] == owner["email"]
    assert row["is_active"] is True
    everyone = listed(client, shop, shop["headers"])
    assert everyone[0]["id"] == row["id"], "the owner is listed first"
    db_owner = [r for r in tenant_db(shop) if r["role"] == "owner"]
    assert len(db_owner) == 1
    assert str(db_owner[0]["account_id"]) == owner["id"]
    assert db_owner[0]["password_hash"] is None


def test_owner_adds_admin_who_adds_staff_and_staff_cannot_add(
    client: TestClient,
    shop: Shop,
    tenant_db: Callable[[Shop], list[dict[str, Any]]],
    control_conn: psycopg.Connection,
) -> None:
    admin = added(client, shop, shop["headers"], role="admin")
    assert set(admin) == LISTED_FIELDS
    assert (admin["role"], admin["account_type"], admin["is_active"]) == ("admin", "staff", True)
    admin_headers = staff_headers(client, shop, admin["email"])

    member = added(client, shop, admin_headers, role="staff")
    assert (member["role"], member["account_type"]) == ("staff", "staff")
    member_headers = staff_headers(client, shop, member["email"])

    before = len(tenant_db(shop))
    for refused in (
        add(client, shop, member_headers),
        add(client, shop, member_headers, role="admin"),
        client.delete(staff_url(shop, f"/{admin['id']}"), headers=member_headers),
    ):
        assert assert_problem(refused, 403)["permission"] == "staff.manage"
    assert len(tenant_db(shop)) == before

    ids = {u["id"]: u for u in listed(client, shop, member_headers, limit=200)}
    assert {admin["id"], member["id"]} <= ids.keys()
    assert ids[admin["id"]]["last_login_at"] is not None
    assert admin["id"] in {u["id"] for u in listed(client, shop, shop["headers"], role="admin")}
    assert member["id"] not in {
        u["id"] for u in listed(client, shop, shop["headers"], role="admin")
    }
    assert_problem(client.get(staff_url(shop), headers=shop["headers"], params={"limit": 0}), 422)
    assert_problem(
        client.get(staff_url(shop), headers=shop["headers"], params={"role": "customer"}), 422
    )

    audited = control_conn.execute(
        "SELECT entity_id, actor_label FROM audit_log WHERE action = 'store_user.added'"
        " AND entity_id = ANY(%s)",
        ([admin["id"], member["id"]],),
    ).fetchall()
    assert dict(audited) == {
        admin["id"]: f"owner:{shop['owner']['user']['id']}",
        member["id"]: f"admin:{admin['id']}",
    }

    stored = {str(r["id"]): r for r in tenant_db(shop)}
    for user in (admin, member):
        assert stored[user["id"]]["password_hash"].startswith("$argon2id$")
        assert STAFF_PASSWORD not in stored[user["id"]]["password_hash"]


def test_staff_token_reaches_its_store_only(
    client: TestClient, shop: Shop, other_shop: Shop
) -> None:
    member = added(client, shop, shop["headers"])
    response = login(client, shop, member["email"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"]["id"] == member["id"]
    assert body["store_id"] == shop["id"]
    assert "password" not in response.text.lower()
    headers = bearer(body["token"])

    assert client.get(staff_url(shop), headers=headers).status_code == 200
    # The store record itself is the owner's (CurrentCaller): a staff token is not an account.
    assert_problem(client.get(f"/api/stores/{shop['id']}", headers=headers), 401)
    assert_problem(client.patch(f"/api/stores/{shop['id']}", headers=headers, json={}), 403)
    assert_problem(client.get(staff_url(other_shop), headers=headers), 404)
    assert_problem(add(client, other_shop, headers), 404)
    assert_problem(client.get(f"/api/stores/{uuid.uuid4()}/staff", headers=headers), 404)
    # The other store's owner cannot see this store's staff either.
    assert_problem(client.get(staff_url(shop), headers=other_shop["headers"]), 404)


def test_removed_staff_lose_access_and_the_owner_stays(
    client: TestClient,
    shop: Shop,
    other_shop: Shop,
    tenant_db: Callable[[Shop], list[dict[str, Any]]],
) -> None:
    admin = added(client, shop, shop["headers"], role="admin")
    admin_headers = staff_headers(client, shop, admin["email"])
    member = added(client, shop, shop["headers"])
    member_headers = staff_headers(client, shop, member["email"])
    owner_row = listed(client, shop, shop["headers"], role="owner")[0]
    stranger = added(client, other_shop, other_shop["headers"])

    before = len(tenant_db(shop))
    assert_problem(
        client.delete(staff_url(shop, f"/{owner_row['id']}"), headers=admin_headers), 409
    )
    assert_problem(
        client.delete(staff_url(shop, f"/{owner_row['id']}"), headers=shop["headers"]), 409
    )
    assert_problem(client.delete(staff_url(shop, f"/{stranger['id']}"), headers=admin_headers), 404)
    assert_problem(client.delete(staff_url(shop, f"/{uuid.uuid4()}"), headers=shop["headers"]), 404)
    assert_problem(client.delete(staff_url(shop, "/not-a-uuid"), headers=shop["headers"]), 422)

    response = client.delete(staff_url(shop, f"/{member['id']}"), headers=admin_headers)
    assert response.status_code == 204, response.text
    assert_problem(client.get(staff_url(shop), headers=member_headers), 401)
    assert_problem(login(client, shop, member["email"]), 401)
    assert member["id"] not in {u["id"] for u in listed(client, shop, shop["headers"], limit=200)}
    shown = {
        u["id"]: u
        for u in listed(client, shop, shop["headers"], limit=200, include_inactive="true")
    }
    assert shown[member["id"]]["is_active"] is False
    assert_problem(client.delete(staff_url(shop, f"/{member['id']}"), headers=admin_headers), 404)
    rows = {str(r["id"]): r for r in tenant_db(shop)}
    assert len(rows) == before
    assert rows[member["id"]]["is_active"] is False
    assert rows[owner_row["id"]]["is_active"] is True

    # Added again with the same email: the same user comes back, old tokens stay dead.
    again = add(client, shop, shop["headers"], email=member["email"].upper(), role="admin")
    assert again.status_code == 201, again.text
    assert (again.json()["id"], again.json()["role"]) == (member["id"], "admin")
    assert_problem(client.get(staff_url(shop), headers=member_headers), 401)
    assert (
        client.get(
            staff_url(shop), headers=staff_headers(client, shop, member["email"])
        ).status_code
        == 200
    )

    # The other store's row was untouched by the cross-store attempt.
    assert {str(r["id"]): r for r in tenant_db(other_shop)}[stranger["id"]]["is_active"] is True


def test_logout_revokes_the_staff_token(client: TestClient, shop: Shop) -> None:
    member = added(client, shop, shop["headers"])
    first = staff_headers(client, shop, member["email"])
    second = staff_headers(client, shop, member["email"])
    response = client.post("/api/auth/staff/logout", headers=first)
    assert response.status_code == 204, response.text
    assert_problem(client.get(staff_url(shop), headers=first), 401)
    assert_problem(client.post("/api/auth/staff/logout", headers=first), 401)
    assert client.get(staff_url(shop), headers=second).status_code == 200
    # An account token is not a staff token and stays valid.
    assert_problem(client.post("/api/auth/staff/logout", headers=shop["headers"]), 401)
    assert client.get(staff_url(shop), headers=shop["headers"]).status_code == 200
    assert_problem(client.post("/api/auth/staff/logout"), 401)


def test_duplicate_email_is_409_in_any_case_but_fine_in_another_store(
    client: TestClient,
    shop: Shop,
    other_shop: Shop,
    tenant_db: Callable[[Shop], list[dict[str, Any]]],
) -> None:
    email = new_email("Dup.Person")
    assert add(client, shop, shop["headers"], email=email).status_code == 201
    before = len(tenant_db(shop))
    for variant in (email, email.lower(), email.upper()):
        assert_problem(add(client, shop, shop["headers"], email=variant), 409, "email")
    owner_email = str(shop["owner"]["user"]["email"])
    assert_problem(add(client, shop, shop["headers"], email=owner_email.upper()), 409, "email")
    assert len(tenant_db(shop)) == before
    again = add(client, other_shop, other_shop["headers"], email=email.upper())
    assert again.status_code == 201, again.text


def test_bad_input_is_422_naming_the_field_and_changes_nothing(
    client: TestClient, shop: Shop, tenant_db: Callable[[Shop], list[dict[str, Any]]]
) -> None:
    before = tenant_db(shop)
    for weak in ("short1", "aaaaaaaaaaaa", "password123", "1234567890"):
        body = assert_problem(add(client, shop, shop["headers"], password=weak), 422, "password")
        assert "assword" in body["detail"] + str(body.get("errors"))
    email = new_email("mirror")
    local = email.split("@")[0]
    assert_problem(
        add(client, shop, shop["headers"], email=email, password=f"{local}-X1"), 422, "password"
    )
    for role in ("owner", "customer", "superuser", ""):
        assert_problem(add(client, shop, shop["headers"], role=role), 422, "role")
    good = {
        "email": new_email(),
        "first_name": "A",
        "last_name": "B",
        "role": "staff",
        "password": STAFF_PASSWORD,
    }
    for extra in ({"store_id": shop["id"]}, {"account_type": "agency"}, {"is_active": False}):
        assert_problem(
            client.post(staff_url(shop), headers=shop["headers"], json={**good, **extra}), 422
        )
    assert_problem(
        client.post(staff_url(shop), headers=shop["headers"], json={**good, "email": "nope"}),
        422,
        "email",
    )
    for missing in ("password", "role", "email"):
        partial = {k: v for k, v in good.items() if k != missing}
        assert_problem(
            client.post(staff_url(shop), headers=shop["headers"], json=partial), 422, missing
        )
    assert_problem(client.post(staff_url(shop), json=good), 401)
    assert tenant_db(shop) == before
