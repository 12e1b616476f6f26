"""The owner's database server for the move and import attacks, and room for failed sign-ins.

The owner's server is the system PostgreSQL on 127.0.0.1:5432 when it answers, else the
suite's own server; each test gets a fresh database there.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import URL

from storefleet.config import Settings
from storefleet.db.urls import parse_url
from storefleet.testing import make_settings
from tests.isolation.moves.helpers import SYSTEM_PG
from tests.tenancy.test_connect_database import ExternalDb


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
