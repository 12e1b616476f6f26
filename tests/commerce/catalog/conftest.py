"""A store per placement, and a counter of catalog rows, for the catalog tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy.engine import URL

from storefleet.testing import PLACEMENTS, Stores
from tests.commerce.catalog.helpers import Shop, make_counter, make_shops

# --- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shops(stores: Stores) -> Callable[[str, str], Shop]:
    return make_shops(stores)


@pytest.fixture(params=PLACEMENTS)
def placement(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shop(shops: Callable[[str, str], Shop], placement: str) -> Shop:
    return shops(placement, "main")


@pytest.fixture
def counts(
    pg_server: URL, control_conn: psycopg.Connection
) -> Iterator[Callable[[Shop], dict[str, int]]]:
    yield make_counter(pg_server, control_conn)
