"""``storefleet servers``, placement of database stores by load, and a second server.

The second server is the system PostgreSQL 15 on 127.0.0.1:5432 when it answers and is not
the server the suite already runs on; otherwise those tests are skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.cli.main import app as cli
from storefleet.db.urls import libpq_conninfo
from storefleet.runtime import TENANT_METADATA
from storefleet.testing import Stores, bearer
from tests.tenancy.move_helpers import (
    add_staff,
    call,
    edit_profile,
    fingerprint,
    runtime_of,
)
from tests.tenancy.test_export_import import runner  # noqa: F401 (fixture)
from tests.tenancy.test_moves import move_store

PG15 = "postgresql://postgres@127.0.0.1:5432/postgres"


def _system_id(conninfo: str) -> int | None:
    try:
        with psycopg.connect(conninfo, connect_timeout=2, autocommit=True) as conn:
            row = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()
            return int(row[0]) if row else None
    except psycopg.Error:
        return None


@pytest.fixture(scope="module")
def pg15(pg_server: URL, control_db: URL) -> Iterator[str]:
    """The second server's URL; its databases made by this module are dropped afterwards."""
    theirs = _system_id(PG15)
    if theirs is None:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    if theirs == _system_id(libpq_conninfo(pg_server.set(database="postgres"))):
        pytest.skip("127.0.0.1:5432 is the server the suite runs on")
    yield PG15
    with psycopg.connect(PG15, autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT datname FROM pg_database "
                "WHERE datname = ANY(%s) OR datname LIKE 'store\\_%%'",
                ([f"{control_db.database}_tmpl", f"{control_db.database}_tenants"],),
            )
        ]
        with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as control:
            ours = {
                r[0]
                for r in control.execute(
                    "SELECT 'store_' || replace(id::text, '-', '') FROM stores"
                )
            }
        for name in names:
            if name in ours or not name.startswith("store_"):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def test_servers_add_checks_the_server(runner: CliRunner) -> None:  # noqa: F811
    unreachable = runner.invoke(
        cli, ["servers", "add", "nowhere", "postgresql://postgres:s3cret@127.0.0.1:1/postgres"]
    )
    assert unreachable.exit_code == 1
    assert "cannot connect" in unreachable.output and "s3cret" not in unreachable.output
    bad_name = runner.invoke(cli, ["servers", "add", "x", "not a url"])
    assert bad_name.exit_code == 1
    listed = runner.invoke(cli, ["servers", "list"])
    assert listed.exit_code == 0, listed.output
    assert "default" in listed.output and "nowhere" not in listed.output
    assert "postgresql://" not in listed.output


def test_least_loaded_server_takes_new_database_stores(
    client: TestClient,
    stores: Stores,
    accounts: object,
    control_conn: psycopg.Connection,
) -> None:
    default_id = control_conn.execute(
        "SELECT id FROM database_servers WHERE is_default"
    ).fetchone()[0]
    spare_id = uuid.uuid4()
    control_conn.execute(
        "INSERT INTO database_servers (id, name, admin_url_ciphertext, app_password_ciphertext, "
        "capacity, status, is_default) SELECT %s, 'spare', admin_url_ciphertext, "
        "app_password_ciphertext, 1, 'draining', false FROM database_servers WHERE id = %s",
        (spare_id, default_id),
    )
    try:
        store = stores.create("database")
        placed = control_conn.execute(
            "SELECT server_id FROM store_databases WHERE store_id = %s", (store["id"],)
        ).fetchone()[0]
        assert placed == default_id  # the spare is draining
        load = control_conn.execute(
            "SELECT count(*) FROM store_databases WHERE placement = 'database' AND server_id = %s",
            (default_id,),
        ).fetchone()[0]
        control_conn.execute(
            "UPDATE database_servers SET capacity = %s WHERE id = %s", (load, default_id)
        )
        owner = store["owner"]
        full = client.post(
            "/api/stores",
            headers=bearer(owner["token"]),  # type: ignore[index]
            json={"name": "Full", "slug": f"full-{uuid.uuid4().hex[:8]}", "placement": "database"},
        )
        assert full.status_code == 409, full.text
        assert "room" in full.json()["detail"]
    finally:
        control_conn.execute("DELETE FROM database_servers WHERE id = %s", (spare_id,))
        control_conn.execute(
            "UPDATE database_servers SET capacity = 1000 WHERE id = %s", (default_id,)
        )


def test_second_server_holds_database_stores_and_moves_both_ways(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    runner: CliRunner,  # noqa: F811
    pg15: str,
) -> None:
    runtime = runtime_of(client)
    added = runner.invoke(cli, ["servers", "add", "pg15", pg15, "--capacity", "5"])
    assert added.exit_code == 0, added.output
    assert "PostgreSQL 15" in added.output
    again = runner.invoke(cli, ["servers", "add", "pg15", pg15])
    assert again.exit_code == 1 and "already exists" in again.output
    pg15_id = control_conn.execute(
        "SELECT id FROM database_servers WHERE name = 'pg15'"
    ).fetchone()[0]

    # Created there by name.
    store = stores.create("database", server="pg15")
    sid = uuid.UUID(str(store["id"]))
    name = f"store_{sid.hex}"
    assert (
        control_conn.execute(
            "SELECT server_id FROM store_databases WHERE store_id = %s", (sid,)
        ).fetchone()[0]
        == pg15_id
    )
    with psycopg.connect(PG15, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    edit_profile(client, store, description="on pg15")
    call(client, add_staff, runtime, sid, 3, "pg15")
    before = call(client, fingerprint, runtime, sid)

    listed = runner.invoke(cli, ["servers", "list"])
    assert listed.exit_code == 0
    line = next(row for row in listed.output.splitlines() if "pg15" in row)
    assert "active" in line and " 5 " in line and " 1 " in line
    assert "postgresql://" not in listed.output

    # Off it with the CLI (another runtime: this app learns of it by invalidation).
    moved = runner.invoke(cli, ["stores", "move", str(sid), "--to", "schema"])
    assert moved.exit_code == 0, moved.output
    rows = sum(stat.rows for stat in before.values())
    assert f"{rows} rows in {len(TENANT_METADATA.sorted_tables)} tables verified" in " ".join(
        moved.output.split()
    )
    runtime.tenancy.invalidate(sid)
    assert call(client, fingerprint, runtime, sid) == before
    with psycopg.connect(PG15, autocommit=True) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None
        )

    # And back onto it, from the default server's schema.
    edit_profile(client, store, description="back to pg15")
    before = call(client, fingerprint, runtime, sid)
    report = call(client, move_store, runtime, sid, placement="database", server_name="pg15")
    assert report.target["server"] == "pg15" and report.source["placement"] == "schema"
    assert call(client, fingerprint, runtime, sid) == before
    profile = client.get(f"/api/stores/{sid}/profile", headers=store["headers"]).json()
    assert profile["description"] == "back to pg15"

    # database → database across servers.
    report = call(client, move_store, runtime, sid, placement="database", server_name="default")
    assert report.source["server"] == "pg15" and report.target["server"] == "default"
    assert call(client, fingerprint, runtime, sid) == before
    with psycopg.connect(PG15, autocommit=True) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None
        )
