"""Test fixtures: real PostgreSQL, a migrated template built once, a clone per module.

Thin: what they build comes from ``storefleet.testing``, which the benchmarks share.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.config import Settings
from storefleet.db.urls import libpq_conninfo
from storefleet.testing import (
    TEST_ENV,
    Accounts,
    Stores,
    app_client,
    clone_database,
    drop_database,
    drop_fleet,
    make_settings,
    migrated_control,
    start_server,
)
from tests.scramserver import ScramServer, scram_server


@pytest.fixture(scope="session")
def pg_server() -> URL:
    return start_server(close_at_exit=True).url


@pytest.fixture(scope="session")
def control_template(pg_server: URL) -> Iterator[str]:
    """A control-plane database migrated to head, built once and cloned by every module."""
    name = migrated_control(pg_server).database
    assert name
    yield name
    drop_database(pg_server, name)


@pytest.fixture(scope="module")
def control_db(pg_server: URL, control_template: str) -> Iterator[URL]:
    url = clone_database(pg_server, control_template)
    yield url
    drop_fleet(pg_server, url)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Settings:
    return make_settings(tmp_path_factory.mktemp("home"), control_db)


@pytest.fixture(scope="module")
def client(settings: Settings, control_db: URL) -> Iterator[TestClient]:
    with app_client(settings, control_db) as c:
        yield c


@pytest.fixture
def control_conn(control_db: URL) -> Iterator[psycopg.Connection]:
    """A plain psycopg connection to the module's control database, for assertions."""
    with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def accounts(client: TestClient) -> Accounts:
    return Accounts(client)


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
