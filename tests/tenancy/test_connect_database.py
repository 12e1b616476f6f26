"""``POST /api/stores/{id}/connect-database``: the store moves onto its owner's database."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.db.urls import libpq_conninfo
from tests.conftest import Stores, make_settings
from tests.tenancy.test_moves import add_staff, call, edit_profile, fingerprint, runtime_of
from tests.tenancy.test_servers import PG15, _system_id


class ExternalDb:
    """A database on some server, owned by a fresh login role, dropped afterwards."""

    def __init__(self, server: URL, *, owner_is_superuser: bool = False) -> None:
        self.server = server
        self.name = f"ext_{uuid.uuid4().hex[:12]}"
        self.role = f"extowner_{uuid.uuid4().hex[:8]}"
        self.password = f"Pw-{secrets.token_hex(8)}"
        self.superuser = owner_is_superuser
        with self._admin() as conn:
            if not owner_is_superuser:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(self.role), sql.Literal(self.password)
                    )
                )
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(self.name), sql.Identifier(self.role)
                    )
                )
            else:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(
            libpq_conninfo(self.server.set(database="postgres")), autocommit=True
        )

    def url(self) -> str:
        if self.superuser:
            return libpq_conninfo(self.server.set(database=self.name))
        return libpq_conninfo(
            self.server.set(database=self.name, username=self.role, password=self.password)
        )

    def superuser_conn(self) -> psycopg.Connection:
        return psycopg.connect(libpq_conninfo(self.server.set(database=self.name)), autocommit=True)

    def drop(self) -> None:
        with self._admin() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )
            if not self.superuser:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(self.role)))


@pytest.fixture
def external(pg_server: URL) -> Iterator[ExternalDb]:
    db = ExternalDb(pg_server)
    yield db
    db.drop()


def store_row(conn: psycopg.Connection, store_id: object) -> tuple[object, ...]:
    row = conn.execute(
        "SELECT placement, server_id, database_name, schema_name, isolation, "
        "credentials_ciphertext IS NOT NULL, writes_paused FROM store_databases "
        "WHERE store_id = %s",
        (store_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_connect_own_database_as_table_owner(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    external: ExternalDb,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = runtime_of(client)
    store = stores.create("pool")
    sid = uuid.UUID(str(store["id"]))
    edit_profile(client, store, description="bring your own database")
    call(client, add_staff, runtime, sid, 3, "ext")
    before = call(client, fingerprint, runtime, sid)

    caplog.set_level(logging.DEBUG)
    response = client.post(
        f"/api/stores/{sid}/connect-database",
        headers=store["headers"],
        json={"database_url": external.url()},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["isolation"] == "owner_role" and "cannot create roles" in body["isolation_note"]
    assert body["behind_pooler"] is False and body["server_version"][0].isdigit()
    assert body["store"]["placement"] == "database"
    assert external.password not in response.text
    assert external.password not in caplog.text

    assert store_row(control_conn, sid) == (
        "database",
        None,
        external.name,
        "tenant",
        "owner_role",
        True,
        False,
    )
    assert call(client, fingerprint, runtime, sid) == before
    with external.superuser_conn() as conn:
        owner = conn.execute(
            "SELECT tableowner FROM pg_tables WHERE schemaname = 'tenant' AND tablename = 'users'"
        ).fetchone()
        assert owner == (external.role,)
        forced = conn.execute(
            "SELECT bool_and(relforcerowsecurity) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'tenant' AND c.relkind = 'r' "
            "AND c.relname <> 'alembic_version'"
        ).fetchone()
        assert forced == (True,)
        rows = conn.execute(
            "SELECT count(*) FROM tenant.users WHERE store_id = %s", (sid,)
        ).fetchone()
        assert rows == (4,)
    edit_profile(client, store, description="written to the owner's database")
    profile = client.get(f"/api/stores/{sid}/profile", headers=store["headers"]).json()
    assert profile["description"] == "written to the owner's database"
    pool_rows = control_conn.execute("SELECT 1").fetchone()  # control still fine
    assert pool_rows == (1,)

    # And back to the platform: the owner's database keeps its (now empty) tables.
    back = client.post(
        f"/api/stores/{sid}/move", headers=store["headers"], json={"placement": "schema"}
    )
    assert back.status_code == 200, back.text
    assert back.json()["move"]["from"]["external"] is True
    assert store_row(control_conn, sid)[:2][0] == "schema"
    assert store_row(control_conn, sid)[5] is False
    with external.superuser_conn() as conn:
        assert conn.execute("SELECT count(*) FROM tenant.users").fetchone() == (0,)


def test_refusals_name_the_field_and_change_nothing(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    settings: Settings,
    control_db: URL,
    external: ExternalDb,
) -> None:
    store = stores.create("schema")
    sid = store["id"]
    row = store_row(control_conn, sid)

    strict = make_settings(Path(settings.home), control_db, allow_private_databases=False)
    with TestClient(create_app(strict, control_db), raise_server_exceptions=False) as other:
        private = other.post(
            f"/api/stores/{sid}/connect-database",
            headers=store["headers"],
            json={"database_url": external.url()},
        )
    assert private.status_code == 422, private.text
    assert private.json()["errors"][0]["field"] == "database_url"
    assert external.password not in private.text

    shape = client.post(
        f"/api/stores/{sid}/connect-database",
        headers=store["headers"],
        json={"database_url": "mysql://u:p@example.com/x"},
    )
    assert shape.status_code == 422 and shape.json()["errors"][0]["field"] == "database_url"

    with external.superuser_conn() as conn:
        conn.execute("CREATE SCHEMA tenant")
    theirs = client.post(
        f"/api/stores/{sid}/connect-database",
        headers=store["headers"],
        json={"database_url": external.url()},
    )
    assert theirs.status_code == 409, theirs.text
    assert theirs.json()["errors"][0]["field"] == "database_url"

    assert store_row(control_conn, sid) == row
    moves = control_conn.execute(
        "SELECT status FROM store_moves WHERE store_id = %s", (sid,)
    ).fetchall()
    assert moves == [("failed",)]  # only the schema clash got as far as a move
    edit_profile(client, store, description="still here")


def test_connect_with_a_role_creating_user_gets_a_dedicated_role(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, pg_server: URL
) -> None:
    """Creating roles changes them server-wide, so this runs against the second server."""
    theirs = _system_id(PG15)
    if theirs is None or theirs == _system_id(libpq_conninfo(pg_server.set(database="postgres"))):
        pytest.skip("needs a PostgreSQL on 127.0.0.1:5432 other than the suite's server")
    external = ExternalDb(
        URL.create("postgresql", "postgres", host="127.0.0.1", port=5432), owner_is_superuser=True
    )
    try:
        runtime = runtime_of(client)
        store = stores.create("database")
        sid = uuid.UUID(str(store["id"]))
        call(client, add_staff, runtime, sid, 2, "dedicated")
        before = call(client, fingerprint, runtime, sid)
        response = client.post(
            f"/api/stores/{sid}/connect-database",
            headers=store["headers"],
            json={"database_url": external.url()},
        )
        assert response.status_code == 200, response.text
        assert response.json()["isolation"] == "dedicated_role"
        assert response.json()["server_version"].startswith("15")
        assert store_row(control_conn, sid)[:5] == (
            "database",
            None,
            external.name,
            "tenant",
            "dedicated_role",
        )
        assert call(client, fingerprint, runtime, sid) == before
        edit_profile(client, store, description="through the dedicated role")

        async def who() -> str:
            from sqlalchemy import text

            async with runtime.tenancy.session(sid, write=False) as s:
                return str(await s.scalar(text("SELECT current_user")))

        assert call(client, who) == "storefleet_app"
        assert not control_conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (f"store_{sid.hex}",)
        ).fetchone()
    finally:
        external.drop()
