"""A crash after any provisioning step, in any placement, is finished by a retry.

Faults are injected through ``Provisioner.fault`` (raised once, after the named step); the
tenant data is then counted as the superuser, on the store's own database and schema, to
show the retry completed it without duplicating anything.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import Connection
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.api.app import create_app
from storefleet.cli.main import app as cli
from storefleet.config import Settings, get_settings
from storefleet.control.placements.provisioning import STEPS, Provisioner, ProvisioningFault
from storefleet.db.urls import libpq_conninfo, with_database
from storefleet.runtime import TENANT_METADATA
from storefleet.tenancy.ddl import MANAGED_ROLES, TenantRoles
from storefleet.tenancy.migrations import TenantMigrator
from storefleet.testing import PLACEMENTS, Accounts, bearer, unique_name


@pytest.fixture
def provisioner(client: TestClient) -> Iterator[Provisioner]:
    """The API's provisioner; its fault hook and migrator are restored after each test."""
    p: Provisioner = client.app.state.runtime.provisioner  # type: ignore[attr-defined]
    migrator = p.migrator
    yield p
    p.fault = None
    p.migrator = migrator


def fail_once_after(step: str) -> tuple[Callable[[str, uuid.UUID], None], list[uuid.UUID]]:
    fired: list[uuid.UUID] = []

    def fault(reached: str, store_id: uuid.UUID) -> None:
        if reached == step and not fired:
            fired.append(store_id)
            raise ProvisioningFault(f"injected crash after {step}")

    return fault, fired


def create_store(client: TestClient, owner: dict[str, Any], placement: str) -> dict[str, Any]:
    response = client.post(
        "/api/stores",
        headers=bearer(owner["token"]),
        json={
            "name": "Faulty",
            "slug": f"f-{unique_name('s').replace('_', '-')}",
            "placement": placement,
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def control_row(control: psycopg.Connection, store_id: object) -> tuple[Any, ...]:
    row = control.execute(
        "SELECT status, step, last_error, database_name, schema_name, updated_at "
        "FROM store_databases WHERE store_id = %s",
        (str(store_id),),
    ).fetchone()
    assert row is not None
    return tuple(row)


def tenant_counts(pg_server: URL, control: psycopg.Connection, store_id: object) -> dict[str, int]:
    """Rows of the store in its tenant tables, read as the superuser (RLS bypassed)."""
    _, _, _, database, schema, _ = control_row(control, store_id)
    counts: dict[str, int] = {}
    with psycopg.connect(libpq_conninfo(with_database(pg_server, database))) as conn:
        for table, extra in (
            ("stores", ""),
            ("store_configs", ""),
            ("users", ""),
            ("users", " AND role = 'owner'"),
        ):
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.{} WHERE store_id = %s" + extra).format(
                    sql.Identifier(schema), sql.Identifier(table)
                ),
                (str(store_id),),
            ).fetchone()
            assert row is not None
            counts[table + ("_owner" if extra else "")] = row[0]
    return counts


COMPLETE = {"stores": 1, "store_configs": 1, "users": 1, "users_owner": 1}


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("step", STEPS)
def test_crash_after_each_step_is_finished_by_a_retry(
    client: TestClient,
    accounts: Accounts,
    provisioner: Provisioner,
    control_conn: psycopg.Connection,
    pg_server: URL,
    placement: str,
    step: str,
) -> None:
    owner = accounts.register()
    provisioner.fault, fired = fail_once_after(step)
    store = create_store(client, owner, placement)
    assert store["provisioning_status"] == "failed"
    assert fired == [uuid.UUID(store["id"])]
    status, reached, error, *_ = control_row(control_conn, store["id"])
    assert (status, reached) == ("failed", step)
    assert "ProvisioningFault" in error

    retried = client.post(f"/api/stores/{store['id']}/provision", headers=bearer(owner["token"]))
    assert retried.status_code == 200, retried.text
    assert retried.json()["provisioning_status"] == "ready"
    assert retried.json()["status"] == "active"
    assert control_row(control_conn, store["id"])[:3] == ("ready", "ready", None)
    assert tenant_counts(pg_server, control_conn, store["id"]) == COMPLETE
    profile = client.get(f"/api/stores/{store['id']}", headers=bearer(owner["token"]))
    assert profile.status_code == 200 and profile.json()["provisioning_status"] == "ready"


class CrashBeforeCommit(TenantMigrator):
    """Creates the whole head schema, then dies before the transaction commits."""

    def create_head(
        self, conn: Connection, schema: str, *, roles: TenantRoles = MANAGED_ROLES
    ) -> None:
        super().create_head(conn, schema, roles=roles)
        raise ProvisioningFault("crash inside the schema transaction")


def test_crash_inside_schema_creation_leaves_no_half_schema(
    client: TestClient,
    accounts: Accounts,
    provisioner: Provisioner,
    control_conn: psycopg.Connection,
    control_db: URL,
    pg_server: URL,
) -> None:
    owner = accounts.register()
    provisioner.migrator = CrashBeforeCommit(metadata=TENANT_METADATA)
    store = create_store(client, owner, "schema")
    assert store["provisioning_status"] == "failed"
    status, reached, error, database, schema, _ = control_row(control_conn, store["id"])
    assert (status, reached) == ("failed", "server")
    assert "crash inside the schema transaction" in error
    with psycopg.connect(libpq_conninfo(with_database(pg_server, database))) as conn:
        assert (
            conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
            is None
        )
    provisioner.migrator = TenantMigrator(metadata=TENANT_METADATA)
    retried = client.post(f"/api/stores/{store['id']}/provision", headers=bearer(owner["token"]))
    assert retried.json()["provisioning_status"] == "ready"
    assert tenant_counts(pg_server, control_conn, store["id"]) == COMPLETE


@pytest.fixture
def runner(
    settings: Settings, control_db: URL, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    monkeypatch.setenv("STOREFLEET_HOME", str(settings.home))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    monkeypatch.setenv("STOREFLEET_ARGON2_MEMORY_COST", "1024")
    monkeypatch.setenv("STOREFLEET_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("STOREFLEET_ARGON2_PARALLELISM", "1")
    monkeypatch.setenv("COLUMNS", "240")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def wait_for(check: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_resume_at_start_up_and_from_the_cli(
    client: TestClient,
    accounts: Accounts,
    provisioner: Provisioner,
    control_conn: psycopg.Connection,
    control_db: URL,
    pg_server: URL,
    settings: Settings,
    runner: CliRunner,
) -> None:
    owner = accounts.register()
    provisioner.fault, _ = fail_once_after("container")
    healable = create_store(client, owner, "schema")
    provisioner.fault, _ = fail_once_after("container")
    broken = create_store(client, owner, "schema")
    provisioner.fault = None
    assert healable["provisioning_status"] == broken["provisioning_status"] == "failed"
    # Break the second store so every retry fails at the seed step.
    _, _, _, database, broken_schema, _ = control_row(control_conn, broken["id"])
    with psycopg.connect(libpq_conninfo(with_database(pg_server, database)), autocommit=True) as c:
        c.execute(sql.SQL("DROP TABLE {}.users CASCADE").format(sql.Identifier(broken_schema)))

    status = runner.invoke(cli, ["tenants", "status"])
    assert status.exit_code == 1, status.output
    assert healable["id"] in status.output and "failed" in status.output

    # A new server process resumes in the background; the broken store does not stop it.
    with TestClient(create_app(settings, control_db), raise_server_exceptions=False) as other:
        assert other.get("/healthz").status_code == 200
        wait_for(lambda: control_row(control_conn, healable["id"])[0] == "ready")
        wait_for(lambda: "UndefinedTable" in (control_row(control_conn, broken["id"])[2] or ""))
        assert control_row(control_conn, broken["id"])[0] == "failed"
    assert tenant_counts(pg_server, control_conn, healable["id"]) == COMPLETE

    resumed = runner.invoke(cli, ["stores", "provision", "--resume"])
    assert resumed.exit_code == 1, resumed.output
    assert broken["id"] in resumed.output and "UndefinedTable" in resumed.output

    # Without its version table the schema is rebuilt from scratch by the next attempt.
    with psycopg.connect(libpq_conninfo(with_database(pg_server, database)), autocommit=True) as c:
        c.execute(sql.SQL("DROP TABLE {}.alembic_version").format(sql.Identifier(broken_schema)))
    one = runner.invoke(cli, ["stores", "provision", broken["id"]])
    assert one.exit_code == 0, one.output
    assert tenant_counts(pg_server, control_conn, broken["id"]) == COMPLETE
    assert runner.invoke(cli, ["stores", "provision", "--resume"]).output.strip() == (
        "nothing to provision"
    )
    assert runner.invoke(cli, ["stores", "provision"]).exit_code == 2
    healthy = runner.invoke(cli, ["tenants", "status"])
    assert healthy.exit_code == 0, healthy.output
