"""A store per placement for the commerce tests that do not make their own."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from storefleet.testing import PLACEMENTS, Stores
from tests.commerce.admin_api import Shop


@pytest.fixture(scope="module")
def shops(stores: Stores) -> Callable[[str], Shop]:
    cache: dict[str, Shop] = {}

    def get(placement: str) -> Shop:
        if placement not in cache:
            cache[placement] = stores.create(placement)
        return cache[placement]

    return get


@pytest.fixture(params=PLACEMENTS)
def shop(request: pytest.FixtureRequest, shops: Callable[[str], Shop]) -> Shop:
    return shops(str(request.param))
