"""``storefleet stores purge``: a deleted store's data goes, its slug is free again."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.cli.main import app as cli
from storefleet.db.urls import libpq_conninfo
from storefleet.testing import PLACEMENTS, Stores, bearer
from tests.scramserver import ScramServer
from tests.tenancy.test_connect_database import ExternalDb


def _tenant_rows(pg_server: URL, database: str, schema: str, store_id: str) -> int | None:
    """The store's rows in its profile table, or None when the schema/database is gone."""
    try:
        with psycopg.connect(libpq_conninfo(pg_server.set(database=database))) as conn:
            row = conn.execute(
                f'SELECT count(*) FROM "{schema}".stores WHERE store_id = %s', (store_id,)
            ).fetchone()
    except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
        return None
    return int(row[0]) if row else None


def _where(control: psycopg.Connection, store_id: str) -> tuple[str, str] | None:
    row = control.execute(
        "SELECT database_name, schema_name FROM store_databases WHERE store_id = %s", (store_id,)
    ).fetchone()
    return (row[0], row[1]) if row else None


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_purge_removes_data_and_frees_the_slug(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    pg_server: URL,
    operator_cli: CliRunner,
    placement: str,
) -> None:
    store = stores.create(placement)
    sid = str(store["id"])
    where = _where(control_conn, sid)
    assert where is not None and _tenant_rows(pg_server, *where, sid) == 1

    refused = operator_cli.invoke(cli, ["stores", "purge", sid])
    assert refused.exit_code == 1 and "only a deleted store" in refused.output
    assert client.delete(f"/api/stores/{sid}", headers=store["headers"]).status_code == 204
    owner = store["owner"]
    again = {"name": "Again", "slug": store["slug"], "placement": placement}
    taken = client.post("/api/stores", headers=bearer(owner["token"]), json=again)  # type: ignore[index]
    assert taken.status_code == 409  # the slug stays reserved until the purge

    purged = operator_cli.invoke(cli, ["stores", "purge", sid])
    assert purged.exit_code == 0, purged.output
    assert "purged" in purged.output
    assert _where(control_conn, sid) is None
    # The record stays (its ledger is append-only), marked purged.
    row = control_conn.execute(
        "SELECT status, purged_at IS NOT NULL FROM stores WHERE id = %s", (sid,)
    )
    assert row.fetchone() == ("purged", True)
    assert not _tenant_rows(pg_server, *where, sid)  # rows gone, or schema/database gone
    reused = client.post("/api/stores", headers=bearer(owner["token"]), json=again)  # type: ignore[index]
    assert reused.status_code == 201, reused.text


def test_purge_of_a_store_on_its_owners_database(
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    scram_pg: ScramServer,
    operator_cli: CliRunner,
) -> None:
    owner_db = ExternalDb(scram_pg.url())
    try:
        store = stores.create("pool")
        sid = str(store["id"])
        connected = client.post(
            f"/api/stores/{sid}/connect-database",
            headers=store["headers"],
            json={"database_url": owner_db.url()},
        )
        assert connected.status_code == 200, connected.text
        assert client.delete(f"/api/stores/{sid}", headers=store["headers"]).status_code == 204
        purged = operator_cli.invoke(cli, ["stores", "purge", sid])
        assert purged.exit_code == 0, purged.output
        with owner_db.superuser_conn() as conn:
            rows = conn.execute(
                "SELECT count(*) FROM tenant.stores WHERE store_id = %s", (sid,)
            ).fetchone()
            role = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s",
                (f"storefleet_app_{sid.replace('-', '')}",),
            ).fetchone()
        assert rows == (0,) and role is None
    finally:
        owner_db.drop()


def test_purge_by_age_and_arguments(operator_cli: CliRunner) -> None:
    assert operator_cli.invoke(cli, ["stores", "purge"]).exit_code == 2
    nothing = operator_cli.invoke(cli, ["stores", "purge", "--deleted-before", "3650"])
    assert nothing.exit_code == 0 and "nothing to purge" in nothing.output
