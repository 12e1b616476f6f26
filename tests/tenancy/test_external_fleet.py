"""Fleet migrations reach stores on databases their owners bring, in both isolations.

An ``owner_role`` database has no roles of ours: its migration runs as the connecting user
(who owns the tables) and grants nothing. A ``dedicated_role`` database grants new tables to
that store's own request role, and only to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import URL

from storefleet.config import Settings
from storefleet.runtime import TENANT_METADATA, Runtime
from storefleet.tenancy.migrations import TenantMigrator
from storefleet.testing import Stores
from tests.tenancy.move_helpers import call, runtime_of
from tests.tenancy.test_connect_database import ExternalDb, drop_store_roles
from tests.tenancy.test_fleet_migrations import (
    NEW,
    REAL_HEAD,
    copy_history,
    revision_text,
    run_fleet,
)

SECURED_TABLE_REVISION = revision_text(
    "a column and a new secured table",
    upgrade="""\
    op.add_column("stores", sa.Column("fleet_note", sa.Text()))
    op.create_table(
        "fleet_widgets",
        sa.Column("store_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "id", name="pk_fleet_widgets"),
    )
    secure_table(op, "fleet_widgets")
""",
    downgrade="""\
    op.drop_table("fleet_widgets")
    op.drop_column("stores", "fleet_note")
""",
    imports="\nfrom storefleet.tenancy.ddl import secure_table\n",
)


@pytest.fixture(scope="module")
def migrator(tmp_path_factory: pytest.TempPathFactory) -> TenantMigrator:
    target = tmp_path_factory.mktemp("hist") / "tenant"
    return TenantMigrator(
        location=copy_history(target, SECURED_TABLE_REVISION), metadata=TENANT_METADATA
    )


@pytest.fixture
def owner_db(pg_server: URL) -> Iterator[ExternalDb]:
    db = ExternalDb(pg_server)
    yield db
    db.drop()


@pytest.fixture
def dedicated_db(pg_server: URL) -> Iterator[ExternalDb]:
    db = ExternalDb(pg_server, owner_is_superuser=True)
    yield db
    db.drop()


def post_connect(client: TestClient, store: dict[str, object], db: ExternalDb) -> httpx.Response:
    return client.post(
        f"/api/stores/{store['id']}/connect-database",
        headers=store["headers"],  # type: ignore[arg-type]
        json={"database_url": db.url()},
    )


def connect(client: TestClient, store: dict[str, object], db: ExternalDb) -> str:
    response = post_connect(client, store, db)
    assert response.status_code == 200, response.text
    return str(response.json()["isolation"])


def refused(client: TestClient, store: dict[str, object], db: ExternalDb) -> httpx.Response:
    """The 409 a connect-database answers, naming the field."""
    response = post_connect(client, store, db)
    assert response.status_code == 409, response.text
    assert response.json()["errors"][0]["field"] == "database_url"
    return response


def connect_and_leave(
    client: TestClient, store: dict[str, object], db: ExternalDb, placement: str
) -> None:
    """Onto the owner's database and back to the platform: its tenant schema stays there."""
    assert connect(client, store, db) == "owner_role"
    back = client.post(
        f"/api/stores/{store['id']}/move",
        headers=store["headers"],  # type: ignore[arg-type]
        json={"placement": placement},
    )
    assert back.status_code == 200, back.text


async def add_widget_and_count(runtime: Runtime, store_id: uuid.UUID) -> int:
    """Through the request role: the new table is writable and readable for the store."""
    async with runtime.tenancy.session(store_id) as s:
        await s.execute(
            text("INSERT INTO fleet_widgets (store_id, id) VALUES (:s, gen_random_uuid())"),
            {"s": store_id},
        )
    async with runtime.tenancy.session(store_id, write=False) as s:
        return int(await s.scalar(text("SELECT count(*) FROM fleet_widgets")) or 0)


def widget_table(conn: psycopg.Connection, role: str) -> tuple[object, ...]:
    row = conn.execute(
        "SELECT tableowner, c.relforcerowsecurity, "
        "has_table_privilege(%s, 'tenant.fleet_widgets', 'SELECT'), "
        "has_table_privilege('storefleet_app', 'tenant.fleet_widgets', 'SELECT') "
        "FROM pg_tables t JOIN pg_class c ON c.oid = 'tenant.fleet_widgets'::regclass "
        "WHERE t.schemaname = 'tenant' AND t.tablename = 'fleet_widgets'",
        (role,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_owner_and_dedicated_databases_reach_the_new_revision(
    client: TestClient,
    stores: Stores,
    settings: Settings,
    control_db: URL,
    pg_server: URL,
    control_conn: psycopg.Connection,
    migrator: TenantMigrator,
    owner_db: ExternalDb,
    dedicated_db: ExternalDb,
) -> None:
    runtime = runtime_of(client)
    owner_store, dedicated_store = stores.create("pool"), stores.create("schema")
    owner_id = uuid.UUID(str(owner_store["id"]))
    dedicated_id = uuid.UUID(str(dedicated_store["id"]))
    try:
        assert connect(client, owner_store, owner_db) == "owner_role"
        assert connect(client, dedicated_store, dedicated_db) == "dedicated_role"

        report = run_fleet(settings, control_db, migrator=migrator, placements=["database"])
        assert not report.failed, [(r.unit.label, r.error) for r in report.failed]
        migrated = {r.unit.store_ids for r in report.migrated if r.unit.kind == "database"}
        assert migrated == {(owner_id,), (dedicated_id,)}
        revisions = dict(
            control_conn.execute(
                "SELECT store_id, schema_revision FROM store_databases WHERE store_id = ANY(%s)",
                ([owner_id, dedicated_id],),
            ).fetchall()
        )
        assert revisions == {owner_id: NEW, dedicated_id: NEW}

        store_role = f"storefleet_app_{dedicated_id.hex}"
        with owner_db.superuser_conn() as conn:
            # the owner's own table, RLS forced on it too, granted to nobody of ours
            assert widget_table(conn, store_role) == (owner_db.role, True, False, False)
        with dedicated_db.superuser_conn() as conn:
            assert widget_table(conn, store_role) == ("storefleet_owner", True, True, False)

        assert call(client, add_widget_and_count, runtime, owner_id) == 1
        assert call(client, add_widget_and_count, runtime, dedicated_id) == 1

        again = run_fleet(settings, control_db, migrator=migrator, placements=["database"])
        assert not again.migrated and not again.failed
        assert {r.unit.store_ids for r in again.current if r.unit.kind == "database"} == migrated
    finally:
        dedicated_db.drop()
        drop_store_roles(pg_server, dedicated_id)


def test_reconnecting_upgrades_a_schema_left_behind(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, owner_db: ExternalDb
) -> None:
    """A store that left its owner's database and comes back finds its old (now empty)
    tenant schema there; connecting again brings it to head instead of refusing it."""
    store = stores.create("pool")
    sid = store["id"]
    connect_and_leave(client, store, owner_db, "schema")
    with psycopg.connect(owner_db.url(), autocommit=True) as conn:
        # as if the fleet had moved on while the schema lay here: undo t0009 … t0007 by hand
        conn.execute("DROP INDEX tenant.ix_products_storefront")
        conn.execute("DROP TABLE tenant.credit_spending_log, tenant.credit_balance_cache")
        conn.execute(
            "DROP TABLE tenant.discount_redemptions, tenant.discount_codes, tenant.discounts"
        )
        conn.execute("UPDATE tenant.alembic_version SET version_num = 't0006_orders_payments'")
    assert connect(client, store, owner_db) == "owner_role"
    with owner_db.superuser_conn() as conn:
        version = conn.execute("SELECT version_num FROM tenant.alembic_version").fetchone()
    assert version == (REAL_HEAD,)
    profile = client.get(f"/api/stores/{sid}/profile", headers=store["headers"])
    assert profile.status_code == 200 and profile.json()["name"] == store["name"]


def test_unknown_schema_revision_in_the_owner_database_is_refused(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, owner_db: ExternalDb
) -> None:
    store = stores.create("pool")
    with psycopg.connect(owner_db.url(), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA tenant")
        conn.execute("CREATE TABLE tenant.alembic_version (version_num varchar(32))")
        conn.execute("INSERT INTO tenant.alembic_version VALUES ('t9999_from_the_future')")
    assert "t9999_from_the_future" in refused(client, store, owner_db).json()["detail"]
    row = control_conn.execute(
        "SELECT placement FROM store_databases WHERE store_id = %s", (store["id"],)
    ).fetchone()
    assert row == ("pool",)


def test_a_failing_upgrade_in_the_owner_database_is_a_409_and_changes_nothing(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, owner_db: ExternalDb
) -> None:
    """A left-behind schema whose tables disagree with its recorded revision: the owner's
    database refuses the upgrade, the answer says what it said, the store stays put."""
    store = stores.create("pool")
    sid = store["id"]
    connect_and_leave(client, store, owner_db, "pool")
    with psycopg.connect(owner_db.url(), autocommit=True) as conn:
        conn.execute(  # tables stay
            "UPDATE tenant.alembic_version SET version_num = 't0006_orders_payments'"
        )
    response = refused(client, store, owner_db)
    assert "already exists" in response.json()["detail"]
    assert owner_db.password not in response.text
    row = control_conn.execute(
        "SELECT placement, writes_paused FROM store_databases WHERE store_id = %s", (sid,)
    ).fetchone()
    assert row == ("pool", False)
    profile = client.get(f"/api/stores/{sid}/profile", headers=store["headers"])
    assert profile.status_code == 200


def test_reprovisioning_a_store_on_an_owner_role_database(
    client: TestClient, stores: Stores, control_conn: psycopg.Connection, owner_db: ExternalDb
) -> None:
    """Provisioning resumed on the owner's database (as after a failure recorded there)
    works without roles of ours: schema checked at head as that user, seed rows in place."""
    store = stores.create("pool")
    sid = store["id"]
    assert connect(client, store, owner_db) == "owner_role"
    control_conn.execute(
        "UPDATE store_databases SET status = 'failed', last_error = 'test' WHERE store_id = %s",
        (sid,),
    )
    client.app.state.runtime.tenancy.invalidate()  # type: ignore[attr-defined]
    response = client.post(f"/api/stores/{sid}/provision", headers=store["headers"])
    assert response.status_code == 200, response.text
    assert response.json()["provisioning_status"] == "ready"
    row = control_conn.execute(
        "SELECT status, last_error FROM store_databases WHERE store_id = %s", (sid,)
    ).fetchone()
    assert row == ("ready", None)
    with owner_db.superuser_conn() as conn:  # RLS is forced on the tables' owner too
        owners = conn.execute(
            "SELECT count(*) FROM tenant.users WHERE store_id = %s AND role = 'owner'", (sid,)
        ).fetchone()
    assert owners == (1,)
