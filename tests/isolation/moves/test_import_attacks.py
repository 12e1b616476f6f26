"""An import carries the importing store's rows and nothing else, and locks no one out.

The store owner controls the export files an operator imports, so a file that delivers a row
labelled with another store's id (here an admin user of the victim store) must stop the
load with nothing written. Loading into the shared pool database, as an admin who is no
superuser, locks no other store out (it runs after the import tests, whose stores of every
placement prepared the server as the default admin).
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
from storefleet.control.placements.moves import move_store
from storefleet.control.placements.store_files import store_location
from storefleet.db.urls import libpq_conninfo, parse_url
from storefleet.runtime import Runtime
from storefleet.tenancy.datacopy import clear_store
from storefleet.testing import PLACEMENTS, Stores
from tests.isolation.moves.helpers import add_admin, sign_in, users_by_store
from tests.tenancy.move_helpers import call, fingerprint, placement_row, runtime_of
from tests.tenancy.test_export_import import runner  # noqa: F401 (fixture)

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
