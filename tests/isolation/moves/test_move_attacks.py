"""A move away from the owner's database carries the moving store's rows and nothing else.

The store owner controls the database a store moves away from (``connect-database``), so it
is attacked: a source that delivers a row labelled with another store's id (here an admin
user of the victim store) must stop the load with nothing written.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import URL

from storefleet.commerce.users.models import TenantUser
from storefleet.testing import PLACEMENTS, Stores
from tests.isolation.attack import check
from tests.isolation.moves.helpers import add_admin, sign_in, users_by_store
from tests.tenancy.move_helpers import call, edit_profile, fingerprint, placement_row, runtime_of
from tests.tenancy.test_connect_database import ExternalDb, drop_store_roles

USER_COLUMNS = [c.name for c in TenantUser.__table__.columns]


def connect_owner_database(client: TestClient, store: dict[str, Any], db: ExternalDb) -> None:
    response = client.post(
        f"/api/stores/{store['id']}/connect-database",
        headers=store["headers"],
        json={"database_url": db.url()},
    )
    assert response.status_code == 200, response.text
    assert response.json()["isolation"] == "dedicated_role"


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
