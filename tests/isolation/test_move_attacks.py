"""Moves and imports carry the moving store's rows and nothing else, and lock no one out.

The store owner controls the database a store moves away from (``connect-database``) and
the export files an operator imports, so both are attacked: a source that delivers a row
labelled with another store's id (here an admin user of the victim store) must stop the
load with nothing written. The owner's server is the system PostgreSQL on 127.0.0.1:5432
when it answers, else the suite's own server; each test gets a fresh database there.
"""

from __future__ import annotations

import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.cli.main import app as cli
from storefleet.commerce.users.models import TenantUser
from storefleet.config import Settings
from storefleet.db.urls import libpq_conninfo, parse_url
from storefleet.runtime import Runtime
from storefleet.tenancy.copy import clear_store
from storefleet.tenancy.moves import move_store, store_location
from storefleet.testing import PLACEMENTS, Stores, make_settings
from tests.isolation.attack import STAFF_PASSWORD, check, staff_login
from tests.tenancy.test_connect_database import ExternalDb, drop_store_roles
from tests.tenancy.test_export_import import runner  # noqa: F401 (fixture)
from tests.tenancy.test_moves import call, edit_profile, fingerprint, placement_row, runtime_of

SYSTEM_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
USER_COLUMNS = [c.name for c in TenantUser.__table__.columns]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Settings:
    """The usual settings, with room for the many failed sign-ins these tests expect."""
    return make_settings(tmp_path_factory.mktemp("home"), control_db, login_max_failures=1000)


@pytest.fixture(scope="module")
def owner_server(pg_server: URL) -> URL:
    try:
        with psycopg.connect(SYSTEM_PG, connect_timeout=2, autocommit=True):
            return parse_url(SYSTEM_PG)
    except psycopg.OperationalError:
        return pg_server


@pytest.fixture
def owner_db(owner_server: URL) -> Iterator[ExternalDb]:
    db = ExternalDb(owner_server, owner_is_superuser=True)
    yield db
    db.drop()


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


def connect_owner_database(client: TestClient, store: dict[str, Any], db: ExternalDb) -> None:
    response = client.post(
        f"/api/stores/{store['id']}/connect-database",
        headers=store["headers"],
        json={"database_url": db.url()},
    )
    assert response.status_code == 200, response.text
    assert response.json()["isolation"] == "dedicated_role"


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


def target_of(pg_server: URL, control_db: URL, placement: str, store_id: uuid.UUID) -> Any:
    """Where a move of the store to ``placement`` lands: (admin URL, schema)."""
    tenants = pg_server.set(database=f"{control_db.database}_tenants")
    if placement == "pool":
        return tenants, "pool"
    if placement == "schema":
        return tenants, f"store_{store_id.hex}"
    return pg_server.set(database=f"store_{store_id.hex}"), "tenant"


# ---- what the owner plants in their database ---------------------------------------------


def relabelling_view(db: ExternalDb, attacker: uuid.UUID, victim: uuid.UUID, mole: str) -> None:
    """``tenant.users`` becomes a view whose store_id says one thing to a filter and another
    to the output: the copy of the mole admin, labelled with the victim's id, passes
    ``WHERE store_id = <attacker>`` once and is delivered with the victim's id. Schema
    qualification cannot help: the view and its function are the owner's own."""
    with db.superuser_conn() as conn:
        conn.execute("ALTER TABLE tenant.users RENAME TO users_real")
        conn.execute(
            sql.SQL(
                """
                CREATE FUNCTION public.two_faced(real_id uuid) RETURNS uuid
                LANGUAGE plpgsql STABLE AS $f$
                DECLARE
                    calls int := COALESCE(NULLIF(
                        pg_catalog.current_setting('attack.calls', true), ''), '0')::int;
                BEGIN
                    IF real_id OPERATOR(pg_catalog.<>) {victim} THEN RETURN real_id; END IF;
                    PERFORM pg_catalog.set_config('attack.calls', (calls + 1)::text, false);
                    IF calls OPERATOR(pg_catalog.=) 0 THEN RETURN {attacker}; END IF;
                    RETURN real_id;
                END
                $f$
                """
            ).format(victim=sql.Literal(str(victim)), attacker=sql.Literal(str(attacker)))
        )
        select_list = sql.SQL(", ").join(
            sql.SQL("public.two_faced(store_id) AS store_id")
            if name == "store_id"
            else sql.Identifier(name)
            for name in USER_COLUMNS
        )
        conn.execute(
            sql.SQL("CREATE VIEW tenant.users AS SELECT {} FROM tenant.users_real").format(
                select_list
            )
        )
        plant_mole(conn, "users_real", victim, mole)


def hijacked_equality(db: ExternalDb, victim: uuid.UUID, mole: str) -> None:
    """A ``public.=`` for uuids, first on the database's search_path, that lets the mole
    through the first time it is asked (so the checksum query afterwards agrees)."""
    with db.superuser_conn() as conn:
        conn.execute(
            sql.SQL(
                """
                CREATE FUNCTION public.leaky_eq(a uuid, b uuid) RETURNS boolean
                LANGUAGE plpgsql IMMUTABLE AS $f$
                BEGIN
                    IF a OPERATOR(pg_catalog.=) b THEN RETURN true; END IF;
                    IF a OPERATOR(pg_catalog.=) {victim} AND COALESCE(
                        pg_catalog.current_setting('attack.done', true), '')
                        OPERATOR(pg_catalog.=) '' THEN
                        PERFORM pg_catalog.set_config('attack.done', 'yes', false);
                        RETURN true;
                    END IF;
                    RETURN false;
                END
                $f$
                """
            ).format(victim=sql.Literal(str(victim)))
        )
        conn.execute(
            "CREATE OPERATOR public.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = public.leaky_eq)"
        )
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET search_path = public, pg_catalog").format(
                sql.Identifier(db.name)
            )
        )
        plant_mole(conn, "users", victim, mole)


def plant_mole(conn: psycopg.Connection, table: str, victim: uuid.UUID, mole: str) -> None:
    """A copy of the attacker's admin ``mole`` in ``tenant.<table>``, with the victim's id."""
    names = sql.SQL(", ").join(sql.Identifier(n) for n in USER_COLUMNS)
    values = sql.SQL(", ").join(
        sql.SQL("{}::pg_catalog.uuid").format(sql.Literal(str(victim)))
        if n == "store_id"
        else sql.SQL("pg_catalog.gen_random_uuid()")
        if n == "id"
        else sql.Identifier(n)
        for n in USER_COLUMNS
    )
    inserted = conn.execute(
        sql.SQL(
            "INSERT INTO tenant.{table} ({names}) SELECT {values} FROM tenant.{table} "
            "WHERE email OPERATOR(pg_catalog.=) {mole}"
        ).format(table=sql.Identifier(table), names=names, values=values, mole=sql.Literal(mole))
    )
    assert inserted.rowcount == 1


# ---- (a) a move away from the owner's database --------------------------------------------


def _store_whole_on_owner_db(
    client: TestClient,
    control_conn: psycopg.Connection,
    store: dict[str, Any],
    db: ExternalDb,
) -> None:
    sid = uuid.UUID(str(store["id"]))
    row = placement_row(control_conn, sid)
    assert row[:4] == ("database", None, db.name, "tenant") and row[4:] == (False, "ready")
    edit_profile(client, store, description="still on my own database")
    profile = check(client.get(f"/api/stores/{sid}/profile", headers=store["headers"]), 200)
    assert profile["description"] == "still on my own database"


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_owner_view_that_relabels_rows_stops_the_move(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    pg_server: URL,
    control_db: URL,
    owner_db: ExternalDb,
    placement: str,
) -> None:
    runtime = runtime_of(client)
    victim = stores.create(placement)
    vid = uuid.UUID(str(victim["id"]))
    attacker = stores.create(placement)
    aid = uuid.UUID(str(attacker["id"]))
    mole = add_admin(client, attacker)
    try:
        connect_owner_database(client, attacker, owner_db)
        victim_before = call(client, fingerprint, runtime, vid)
        target = target_of(pg_server, control_db, placement, aid)
        target_before = users_by_store(*target)
        relabelling_view(owner_db, aid, vid, mole)

        response = client.post(
            f"/api/stores/{aid}/move", headers=attacker["headers"], json={"placement": placement}
        )
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        detail = response.json()["detail"]
        assert "row(s) of table users whose store_id is not this store's" in detail
        assert "nothing was written" in detail

        assert users_by_store(*target) == target_before
        assert call(client, fingerprint, runtime, vid) == victim_before
        assert sign_in(client, vid, mole) == 401
        error = control_conn.execute(
            "SELECT status, error FROM store_moves WHERE store_id = %s "
            "ORDER BY started_at DESC LIMIT 1",
            (aid,),
        ).fetchone()
        assert error is not None and error[0] == "failed" and "store_id is not" in error[1]
        _store_whole_on_owner_db(client, control_conn, attacker, owner_db)
    finally:
        owner_db.drop()
        drop_store_roles(owner_db.server, aid)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_owner_search_path_and_operators_do_not_change_our_sql(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    pg_server: URL,
    control_db: URL,
    owner_db: ExternalDb,
    placement: str,
) -> None:
    """A planted ``=`` first on the search_path is never used: the move copies the store's
    own rows only, and the mole labelled with the victim's id stays where it was planted."""
    runtime = runtime_of(client)
    victim = stores.create(placement)
    vid = uuid.UUID(str(victim["id"]))
    attacker = stores.create(placement)
    aid = uuid.UUID(str(attacker["id"]))
    mole = add_admin(client, attacker)
    try:
        connect_owner_database(client, attacker, owner_db)
        victim_before = call(client, fingerprint, runtime, vid)
        attacker_before = call(client, fingerprint, runtime, aid)
        target = target_of(pg_server, control_db, placement, aid)
        target_before = users_by_store(*target) or {}
        hijacked_equality(owner_db, vid, mole)

        response = client.post(
            f"/api/stores/{aid}/move", headers=attacker["headers"], json={"placement": placement}
        )
        assert response.status_code == 200, response.text
        assert placement_row(control_conn, aid)[0] == placement

        assert call(client, fingerprint, runtime, aid) == attacker_before
        expected = dict(target_before) | {aid: attacker_before["users"].rows}
        assert users_by_store(*target) == expected
        assert call(client, fingerprint, runtime, vid) == victim_before
        assert sign_in(client, vid, mole) == 401
        assert sign_in(client, aid, mole) == 200
        with owner_db.superuser_conn() as conn:
            left = conn.execute(
                "SELECT store_id FROM tenant.users WHERE email OPERATOR(pg_catalog.=) %s",
                (mole,),
            ).fetchall()
        assert left == [(vid,)]  # the planted row stays in the owner's database
    finally:
        owner_db.drop()
        drop_store_roles(owner_db.server, aid)


# ---- (b) stores import of a crafted file ----------------------------------------------------


def with_planted_row(path: Path, out: Path, location: Any, victim: uuid.UUID, mole: str) -> None:
    """``path`` with the mole's row copied, labelled with the victim's id, into the users
    stream; the manifest (counts and checksums of the store's own rows) is left as it was."""
    names = [c.name for c in TenantUser.__table__.columns if c.computed is None]
    collist = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    values = sql.SQL(", ").join(
        sql.SQL("{}::uuid").format(sql.Literal(str(victim)))
        if n == "store_id"
        else sql.SQL("gen_random_uuid()")
        if n == "id"
        else sql.Identifier(n)
        for n in names
    )
    with zipfile.ZipFile(path) as zf:
        original = zf.read("tables/users.copy")
    crafted = bytearray()
    with psycopg.connect(libpq_conninfo(location.admin_url)) as conn:
        conn.execute(
            sql.SQL("CREATE TEMP TABLE stage AS SELECT {} FROM {}.users WITH NO DATA").format(
                collist, sql.Identifier(location.schema)
            )
        )
        with conn.cursor().copy(
            sql.SQL("COPY stage ({}) FROM STDIN (FORMAT BINARY)").format(collist)
        ) as copy:
            copy.write(original)
        added = conn.execute(
            sql.SQL("INSERT INTO stage ({}) SELECT {} FROM stage WHERE email = %s").format(
                collist, values
            ),
            (mole,),
        )
        assert added.rowcount == 1
        with conn.cursor().copy(
            sql.SQL("COPY stage ({}) TO STDOUT (FORMAT BINARY)").format(collist)
        ) as copy:
            for chunk in copy:
                crafted += chunk
        conn.rollback()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.namelist():
            data = bytes(crafted) if item == "tables/users.copy" else src.read(item)
            dst.writestr(item, data)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_import_carrying_another_stores_rows_is_refused(
    client: TestClient,
    stores: Stores,
    runner: CliRunner,  # noqa: F811
    tmp_path: Path,
    placement: str,
) -> None:
    runtime = runtime_of(client)
    victim = stores.create(placement)
    vid = uuid.UUID(str(victim["id"]))
    attacker = stores.create(placement)
    aid = uuid.UUID(str(attacker["id"]))
    mole = add_admin(client, attacker)
    location = call(client, store_location, runtime, aid)
    honest = tmp_path / "honest.zip"
    exported = runner.invoke(cli, ["stores", "export", str(aid), str(honest)])
    assert exported.exit_code == 0, exported.output
    attacker_before = call(client, fingerprint, runtime, aid)
    crafted = tmp_path / "crafted.zip"
    with_planted_row(honest, crafted, location, vid, mole)
    assert call(client, clear_store, location, aid) > 0
    victim_before = call(client, fingerprint, runtime, vid)
    rows_before = users_by_store(location.admin_url, location.schema) or {}

    refused = runner.invoke(cli, ["stores", "import", str(crafted)])
    said = " ".join(refused.output.split())
    assert refused.exit_code == 1, refused.output
    assert "row(s) of table users whose store_id is not this store's" in said
    assert all(s.rows == 0 for s in call(client, fingerprint, runtime, aid).values())
    assert (users_by_store(location.admin_url, location.schema) or {}) == rows_before
    assert call(client, fingerprint, runtime, vid) == victim_before
    assert sign_in(client, vid, mole) == 401

    imported = runner.invoke(cli, ["stores", "import", str(honest)])  # positive control
    assert imported.exit_code == 0, imported.output
    assert call(client, fingerprint, runtime, aid) == attacker_before
    assert sign_in(client, aid, mole) == 200


# ---- (c) loading into the pool locks no other store out -----------------------------------


@pytest.fixture
def platform_admin_without_bypass(client: TestClient, pg_server: URL) -> Iterator[None]:
    """The default server reached as an admin who is no superuser and has no BYPASSRLS, the
    way managed PostgreSQL services (RDS, Cloud SQL) hand out their master user."""
    runtime = runtime_of(client)
    role = f"sf_cloudadmin_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_conninfo(pg_server.set(database="postgres")), autocommit=True) as c:
        c.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS CREATEDB CREATEROLE; "
                "GRANT storefleet_owner TO {}"
            ).format(sql.Identifier(role), sql.Identifier(role))
        )
    server_id, original = swap_default_admin(runtime, pg_server.set(username=role, password=None))
    try:
        yield
    finally:
        restore_default_admin(runtime, server_id, original)
        with psycopg.connect(
            libpq_conninfo(pg_server.set(database="postgres")), autocommit=True
        ) as c:
            c.execute(
                sql.SQL("REASSIGN OWNED BY {} TO storefleet_owner").format(sql.Identifier(role))
            )
            c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            c.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def swap_default_admin(runtime: Runtime, url: URL) -> tuple[uuid.UUID, bytes]:
    with psycopg.connect(libpq_conninfo(runtime_control_url(runtime)), autocommit=True) as c:
        row = c.execute(
            "SELECT id, admin_url_ciphertext FROM database_servers WHERE is_default"
        ).fetchone()
        assert row is not None
        server_id, original = row
        secret = runtime.keyring.encrypt_text(
            url.set(database="postgres").render_as_string(hide_password=False),
            f"database_servers:{server_id}:admin_url",
        )
        c.execute(
            "UPDATE database_servers SET admin_url_ciphertext = %s WHERE id = %s",
            (secret, server_id),
        )
    runtime.tenancy.forget_server(server_id)
    return server_id, bytes(original)


def restore_default_admin(runtime: Runtime, server_id: uuid.UUID, original: bytes) -> None:
    with psycopg.connect(libpq_conninfo(runtime_control_url(runtime)), autocommit=True) as c:
        c.execute(
            "UPDATE database_servers SET admin_url_ciphertext = %s WHERE id = %s",
            (original, server_id),
        )
    runtime.tenancy.forget_server(server_id)


def runtime_control_url(runtime: Runtime) -> URL:
    assert runtime.settings.database_url
    return parse_url(runtime.settings.database_url)


def exclusive_pool_locks(pg_server: URL, control_db: URL) -> list[str]:
    tenants = pg_server.set(database=f"{control_db.database}_tenants")
    with psycopg.connect(libpq_conninfo(tenants), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'pool' AND l.mode = 'AccessExclusiveLock'"
        ).fetchall()
    return sorted(r[0] for r in rows)


@pytest.mark.parametrize("source", ["schema", "database"])
@pytest.mark.usefixtures("platform_admin_without_bypass")
def test_loading_into_the_pool_locks_no_other_store_out(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    pg_server: URL,
    control_db: URL,
    source: str,
) -> None:
    runtime = runtime_of(client)
    mover = stores.create(source)
    sid = uuid.UUID(str(mover["id"]))
    neighbour = stores.create("pool")
    nid = uuid.UUID(str(neighbour["id"]))
    before = call(client, fingerprint, runtime, sid)
    seen: dict[str, Any] = {}

    async def neighbour_writes() -> int:
        async with runtime.tenancy.session(nid, write=True) as s:
            await s.execute(text("SET LOCAL lock_timeout = '2s'"))
            result = await s.execute(text("UPDATE users SET first_name = 'written during a move'"))
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def during_copy(phase: str, store_id: uuid.UUID) -> None:
        if phase != "copied:users":
            return
        seen["locks"] = await anyio.to_thread.run_sync(exclusive_pool_locks, pg_server, control_db)
        try:
            seen["written"] = await neighbour_writes()
        except Exception as exc:  # the test reports what blocked it
            seen["written"] = f"{type(exc).__name__}: {exc}"

    report = call(client, move_store, runtime, sid, placement="pool", fault=during_copy)
    assert report.status == "completed", report
    assert seen["locks"] == []
    assert seen["written"] == 1
    assert placement_row(control_conn, sid)[0] == "pool"
    assert call(client, fingerprint, runtime, sid) == before
