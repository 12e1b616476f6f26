"""A pool store with tax, payment and shipping set up, and a second store, per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from storefleet.testing import Stores
from tests.commerce.orders.test_checkout_e2e import Shop


@pytest.fixture(scope="module")
def shop(client: TestClient, stores: Stores) -> Iterator[Shop]:
    shop = Shop(client, stores.create("pool"))
    shop.tax_class("standard", 1900, default=True)
    shop.payment_method()
    yield shop


@pytest.fixture(scope="module")
def method(shop: Shop) -> str:
    return shop.shipping({"USD": 500})


@pytest.fixture(scope="module")
def other(client: TestClient, stores: Stores) -> Shop:
    return Shop(client, stores.create("pool"))
