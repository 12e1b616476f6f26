"""Two app processes (two runtimes, two event loops): a write through one is seen by the other.

App B's cache is warmed, a price (a sale rule) and a stock level are changed through app A's
admin API, and B's next reads show them: the price as soon as the notification arrives, the
stock within ``storefront_stock_lag_seconds`` of it (stock writes are coalesced).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.config import Settings
from storefleet.testing import PLACEMENTS, Stores, app_client
from tests.api.test_storefront_cache import cache_of
from tests.commerce.catalog.helpers import api, front, tshirt

DELIVERY_SECONDS = 5.0  # a notification reaching the other process, on a busy machine


@pytest.fixture(scope="module")
def other(settings: Settings, control_db: URL) -> Iterator[TestClient]:
    """App B: the same settings and control database, its own runtime, cache and listener."""
    with app_client(settings, control_db) as b:
        yield b


def until(read: Callable[[], Any], wanted: Callable[[Any], bool], seconds: float) -> float:
    """How long ``read()`` took to give an answer ``wanted``; fails after ``seconds``."""
    started = time.monotonic()
    while True:
        got = read()
        if wanted(got):
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, got
        time.sleep(0.02)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_price_and_stock_changed_in_one_process_show_in_the_other(
    client: TestClient, other: TestClient, stores: Stores, placement: str
) -> None:
    shop = stores.create(placement)
    headers = shop["headers"]
    body = tshirt()
    made = client.post(api(shop, "/products"), headers=headers, json=body)
    assert made.status_code == 201, made.text
    medium = next(v for v in made.json()["variants"] if v["sku"].endswith("-M"))
    page = f"/api/storefront/products/{body['slug']}"

    def medium_in_b() -> tuple[int, int]:
        answer = other.get(page, headers=front(shop))
        assert answer.status_code == 200, answer.text
        found = next(v for v in answer.json()["variants"] if v["id"] == medium["id"])
        return found["price"]["amount"], found["available"]

    assert medium_in_b() == (2099, 0)
    hits = cache_of(other).hits
    assert medium_in_b() == (2099, 0)
    assert cache_of(other).hits == hits + 1  # B answers from its cache now

    rule = {"name": "half", "kind": "sale", "percent_off_bp": 5000}
    assert client.post(api(shop, "/price-rules"), headers=headers, json=rule).is_success
    until(medium_in_b, lambda got: got[0] < 2099 and got[1] == 0, DELIVERY_SECONDS)

    locations = client.get(api(shop, "/inventory/locations"), headers=headers).json()["items"]
    main = next(loc for loc in locations if loc["code"] == "main")
    lag = other.app.state.runtime.settings.storefront_stock_lag_seconds  # type: ignore[attr-defined]
    for on_hand in (3, 5):  # the second within the first's window: announced at its end
        adjusted = client.post(
            api(shop, "/inventory/adjustments"),
            headers=headers,
            json={
                "variant_id": medium["id"],
                "location_id": main["id"],
                "delta": on_hand - (3 if on_hand == 5 else 0),
                "reason": "received",
            },
        )
        assert adjusted.status_code == 201, adjusted.text
        until(medium_in_b, lambda got, want=on_hand: got[1] == want, lag + DELIVERY_SECONDS)
