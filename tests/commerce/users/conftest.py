"""Two stores per placement, their tenant rows, and a fresh login throttle per test."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from storefleet.testing import PLACEMENTS, Stores
from tests.commerce.users.helpers import Shop


@pytest.fixture(autouse=True)
def _fresh_login_throttle(client: TestClient) -> None:
    client.app.state.runtime.login_throttle.clear()


@pytest.fixture(scope="module")
def shops(stores: Stores) -> Callable[[str, str], Shop]:
    """Two stores per placement, created on first use and shared by the module's tests."""
    cache: dict[tuple[str, str], Shop] = {}

    def get(placement: str, which: str = "main") -> Shop:
        if (placement, which) not in cache:
            cache[(placement, which)] = stores.create(placement)
        return cache[(placement, which)]

    return get


@pytest.fixture(params=PLACEMENTS)
def placement(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def shop(shops: Callable[[str, str], Shop], placement: str) -> Shop:
    return shops(placement, "main")


@pytest.fixture
def other_shop(shops: Callable[[str, str], Shop], placement: str) -> Shop:
    return shops(placement, "other")
