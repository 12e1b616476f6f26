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
from storefleet.db.urls import libpq_conninfo, libpq_uri
from storefleet.runtime import Runtime
from storefleet.testing import Stores, make_settings
from tests.tenancy.move_helpers import add_staff, call, edit_profile, fingerprint, runtime_of


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
            # Owner URLs must carry a password; the test server trusts local clients anyway.
            return libpq_uri(
                self.server.set(database=self.name, password=self.server.password or "trusted")
            )
        return libpq_uri(
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


def drop_store_roles(server: URL, *store_ids: uuid.UUID) -> None:
    """Per-store request roles are server-wide: remove the ones a test made."""
    with psycopg.connect(libpq_conninfo(server.set(database="postgres")), autocommit=True) as c:
        for sid in store_ids:
            c.execute(
                sql.SQL("DROP ROLE IF EXISTS {}").format(
                    sql.Identifier(f"storefleet_app_{sid.hex}")
                )
            )


async def whoami(runtime: Runtime, store_id: uuid.UUID) -> tuple[str, str]:
    """(current_user, profile name) through a new request-role connection."""
    from sqlalchemy import text

    where = await runtime.tenancy.placement(store_id, fresh=True)
    runtime.tenancy.registry.forget(where.engine_key)  # the next session logs in afresh
    async with runtime.tenancy.session(store_id, write=False) as s:
        user = str(await s.scalar(text("SELECT current_user")))
        name = str(await s.scalar(text("SELECT name FROM stores")))
    return user, name


def test_role_creating_users_get_a_request_role_per_store(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, pg_server: URL
) -> None:
    """Two stores connect databases on the suite's own server, where a managed database
    store lives too: each store logs in as a role of its own that can use its own tables
    only, and nobody's password is re-set (the managed store and the first external store
    still log in after the second connects)."""
    runtime = runtime_of(client)
    managed = stores.create("database")
    managed_id = uuid.UUID(str(managed["id"]))
    first, second = stores.create("database"), stores.create("pool")
    ids = [uuid.UUID(str(first["id"])), uuid.UUID(str(second["id"]))]
    databases = [ExternalDb(pg_server, owner_is_superuser=True) for _ in ids]
    try:
        call(client, add_staff, runtime, ids[0], 2, "dedicated")
        before = call(client, fingerprint, runtime, ids[0])
        for store, db in zip((first, second), databases, strict=True):
            response = client.post(
                f"/api/stores/{store['id']}/connect-database",
                headers=store["headers"],
                json={"database_url": db.url()},
            )
            assert response.status_code == 200, response.text
            assert response.json()["isolation"] == "dedicated_role"
        assert store_row(control_conn, ids[0])[:5] == (
            "database",
            None,
            databases[0].name,
            "tenant",
            "dedicated_role",
        )
        assert call(client, fingerprint, runtime, ids[0]) == before
        edit_profile(client, first, description="through the store's own role")

        for sid, store in zip(ids, (first, second), strict=True):
            user, name = call(client, whoami, runtime, sid)
            assert (user, name) == (f"storefleet_app_{sid.hex}", store["name"])
        assert call(client, whoami, runtime, managed_id) == ("storefleet_app", managed["name"])

        with databases[0].superuser_conn() as conn:
            role = f"storefleet_app_{ids[0].hex}"
            attrs = conn.execute(
                "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb, rolinherit, "
                "(SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) "
                "FROM pg_roles r WHERE rolname = %s",
                (role,),
            ).fetchone()
            assert attrs == (False, False, False, False, False, 0)
            owners = conn.execute(
                "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'tenant'"
            ).fetchall()
            assert owners == [("storefleet_owner",)]
            truncate = conn.execute(
                "SELECT bool_or(has_table_privilege(%s, c.oid, 'TRUNCATE')) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'tenant' AND c.relkind = 'r'",
                (role,),
            ).fetchone()
            assert truncate == (False,)

        # The first store's role, logged in to the second store's database, gets nothing.
        creds = call(client, runtime.tenancy.external_credentials, ids[0])
        as_first = pg_server.set(
            database=databases[1].name,
            username=f"storefleet_app_{ids[0].hex}",
            password=creds["app_password"],
        )
        with psycopg.connect(libpq_conninfo(as_first), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT count(*) FROM tenant.users").fetchone()
    finally:
        for db in databases:
            db.drop()
        drop_store_roles(pg_server, *ids)


def test_reconnecting_keeps_the_store_role_password(
    client: TestClient, stores: Stores, pg_server: URL
) -> None:
    """A store moving from one of its owner's databases to another on the same server keeps
    its role's password, so reads of the current copy keep logging in during the move."""
    runtime = runtime_of(client)
    store = stores.create("schema")
    sid = uuid.UUID(str(store["id"]))
    databases = [ExternalDb(pg_server, owner_is_superuser=True) for _ in range(2)]
    try:
        passwords = []
        for db in databases:
            response = client.post(
                f"/api/stores/{sid}/connect-database",
                headers=store["headers"],
                json={"database_url": db.url()},
            )
            assert response.status_code == 200, response.text
            creds = call(client, runtime.tenancy.external_credentials, sid)
            passwords.append(creds["app_password"])
            assert call(client, whoami, runtime, sid) == (
                f"storefleet_app_{sid.hex}",
                store["name"],
            )
        assert passwords[0] == passwords[1]
        role = f"storefleet_app_{sid.hex}"
        with databases[0].superuser_conn() as conn:  # the database the store left
            rights = conn.execute(
                "SELECT has_database_privilege(%s, current_database(), 'CONNECT'), "
                "has_schema_privilege(%s, 'tenant', 'USAGE'), "
                "has_table_privilege(%s, 'tenant.users', 'SELECT')",
                (role, role, role),
            ).fetchone()
        assert rights == (True, False, False)  # CONNECT stays PUBLIC's on this database

        # Back onto the platform: the store's role is dropped from the owner's server.
        back = client.post(
            f"/api/stores/{sid}/move", headers=store["headers"], json={"placement": "pool"}
        )
        assert back.status_code == 200, back.text
        assert back.json()["move"]["leftover"] is None
        with databases[1].superuser_conn() as conn:
            assert (
                conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
                is None
            )
    finally:
        for db in databases:
            db.drop()
        drop_store_roles(pg_server, sid)
