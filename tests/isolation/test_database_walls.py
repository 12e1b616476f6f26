"""The walls the database itself keeps between stores, in every placement.

These talk to PostgreSQL as the request role (``storefleet_app``), the way requests do, and
check the catalog for the properties the design depends on.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy.engine import URL

from storefleet.commerce.models import TenantBase
from storefleet.db.urls import libpq_conninfo
from storefleet.tenancy.ddl import APP_ROLE, OWNER_ROLE
from storefleet.testing import PLACEMENTS, Stores

TENANT_TABLES = sorted(t.name for t in TenantBase.metadata.sorted_tables)


def _where(control_conn: psycopg.Connection, store_id: str) -> tuple[str, str]:
    row = control_conn.execute(
        "SELECT database_name, schema_name FROM store_databases WHERE store_id = %s", (store_id,)
    ).fetchone()
    assert row is not None
    return row[0], row[1]


def _connect(pg_server: URL, database: str, *, as_app: bool) -> psycopg.Connection:
    url = pg_server.set(database=database)
    if as_app:
        url = url.set(username=APP_ROLE, password=None)
    return psycopg.connect(libpq_conninfo(url), autocommit=False, prepare_threshold=None)


@pytest.fixture(scope="module")
def two_stores_each(stores: Stores) -> dict[str, tuple[dict, dict]]:
    return {p: (stores.create(p), stores.create(p)) for p in PLACEMENTS}


def test_request_role_has_no_bypass_and_tables_force_rls(
    pg_server: URL, control_conn: psycopg.Connection, two_stores_each: dict
) -> None:
    for placement, (store, _) in two_stores_each.items():
        database, schema = _where(control_conn, str(store["id"]))
        with _connect(pg_server, database, as_app=False) as conn:
            role = conn.execute(
                "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb FROM pg_roles "
                "WHERE rolname = %s",
                (APP_ROLE,),
            ).fetchone()
            assert role == (False, False, False, False), placement
            rows = conn.execute(
                "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
                "pg_get_userbyid(c.relowner), "
                "has_table_privilege(%s, c.oid, 'TRUNCATE'), "
                "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r' AND c.relname <> 'alembic_version'",
                (APP_ROLE, schema),
            ).fetchall()
            assert sorted(r[0] for r in rows) == TENANT_TABLES, placement
            for name, rls, forced, owner, truncate, policies in rows:
                assert rls and forced, (placement, name)
                assert owner == OWNER_ROLE, (placement, name)
                assert owner != APP_ROLE
                assert not truncate, (placement, name)
                assert policies == 1, (placement, name)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_no_store_setting_means_no_rows(
    pg_server: URL, control_conn: psycopg.Connection, two_stores_each: dict, placement: str
) -> None:
    store, _ = two_stores_each[placement]
    database, schema = _where(control_conn, str(store["id"]))
    with _connect(pg_server, database, as_app=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.commit()
        for table in TENANT_TABLES:
            assert conn.execute(f'SELECT count(*) FROM "{table}"').fetchone() == (0,), table
        conn.rollback()
        # After a transaction-local setting ends PostgreSQL reports '' (not NULL): still nothing.
        with conn.transaction():
            conn.execute("SELECT set_config('storefleet.store_id', %s, true)", (str(store["id"]),))
            assert conn.execute("SELECT count(*) FROM stores").fetchone() == (1,)
        assert conn.execute("SELECT current_setting('storefleet.store_id', true)").fetchone() == (
            "",
        )
        assert conn.execute("SELECT count(*) FROM stores").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_store_setting_shows_only_that_store(
    pg_server: URL, control_conn: psycopg.Connection, two_stores_each: dict, placement: str
) -> None:
    """The request role, with store A's id set, in the place where store B's rows live.

    Pool: the same tables, and A sees only its own rows. Schema and database: B's own schema
    or database — what a wrong search_path or a wrong engine would reach — and row-level
    security still shows nothing of B's, changes nothing and refuses rows for B. Without RLS
    on B's tables this fails in every placement.
    """
    store, other = two_stores_each[placement]
    database, schema = _where(control_conn, str(other["id"]))
    with _connect(pg_server, database, as_app=True) as conn:
        with conn.transaction():
            conn.execute(f'SET LOCAL search_path TO "{schema}"')
            conn.execute("SELECT set_config('storefleet.store_id', %s, true)", (str(store["id"]),))
            ids = {r[0] for r in conn.execute("SELECT store_id FROM users")}
            assert uuid.UUID(str(other["id"])) not in ids
            assert ids <= {uuid.UUID(str(store["id"]))}
            assert conn.execute("SELECT count(*) FROM stores").fetchone() == (
                1 if placement == "pool" else 0,
            )
            # Writing a row for another store is refused by the policy's WITH CHECK.
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO users (store_id, id, email, role, account_type, first_name, "
                        "last_name, is_active, email_verified, token_version, credits) "
                        "VALUES (%s, gen_random_uuid(), 'x@example.com', 'staff', 'staff', '', '', "
                        "true, false, 0, 0)",
                        (str(other["id"]),),
                    )
            # Updating rows of another store touches nothing (they are invisible).
            result = conn.execute(
                "UPDATE users SET first_name = 'pwned' WHERE store_id = %s", (str(other["id"]),)
            )
            assert result.rowcount == 0
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                with conn.transaction():
                    conn.execute("TRUNCATE users")
    # Positive control: with B's own id, B's rows are there.
    with _connect(pg_server, database, as_app=True) as conn, conn.transaction():
        conn.execute(f'SET LOCAL search_path TO "{schema}"')
        conn.execute("SELECT set_config('storefleet.store_id', %s, true)", (str(other["id"]),))
        ids = {r[0] for r in conn.execute("SELECT store_id FROM users")}
        assert ids == {uuid.UUID(str(other["id"]))}


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_row_pointing_into_another_store_is_refused(
    pg_server: URL, control_conn: psycopg.Connection, two_stores_each: dict, placement: str
) -> None:
    """Foreign keys include store_id: a config cannot reference another store's profile."""
    store, other = two_stores_each[placement]
    database, schema = _where(control_conn, str(store["id"]))
    with _connect(pg_server, database, as_app=False) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.commit()
        conn.execute("DELETE FROM store_configs WHERE store_id = %s", (str(store["id"]),))
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(
                "INSERT INTO store_configs (store_id, id, profile_id, config, theme, layout, "
                "features) VALUES (%s, gen_random_uuid(), %s, '{}', '{}', '{}', '{}')",
                (str(store["id"]), str(other["id"])),
            )
        conn.rollback()
        # And the 1:1 rule holds: a second config for the same store is refused.
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO store_configs (store_id, id, profile_id, config, theme, layout, "
                "features) VALUES (%s, gen_random_uuid(), %s, '{}', '{}', '{}', '{}')",
                (str(store["id"]), str(store["id"])),
            )
