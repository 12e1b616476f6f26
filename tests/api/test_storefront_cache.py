"""The storefront cache: bounded, anonymous 200s only, dropped by writes and by reconnects."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.api.storefront_cache import StorefrontCache, cached_route, query_key
from storefleet.commerce.models import TenantBase
from storefleet.commerce.public_tables import PUBLIC_TABLES, STOCK_TABLES
from storefleet.control.hostnames.listener import RoutingListener
from storefleet.control.hostnames.storefront_changes import StorefrontChanges
from storefleet.db.urls import libpq_conninfo
from storefleet.tenancy.writes import UNKNOWN, tables_written
from storefleet.testing import Stores
from tests.commerce.catalog.helpers import api, front, tshirt

PRODUCTS = "/api/storefront/products"


def cache_of(client: TestClient) -> StorefrontCache:
    cache: StorefrontCache = client.app.state.storefront_cache  # type: ignore[attr-defined]
    return cache


def answer(cache: StorefrontCache, key: Any, body: bytes = b"{}") -> None:
    cache.put(key, cache.generation(key[0]), 200, [(b"content-type", b"application/json")], body)


# --- the store itself, no app -----------------------------------------------------------


def test_lru_keeps_at_most_max_entries_and_evicts_the_least_recently_used() -> None:
    cache = StorefrontCache(max_entries=3, ttl=60, max_body_bytes=100)
    store = uuid.uuid4()
    keys = [(store, f"/p{i}", ()) for i in range(4)]
    for key in keys[:3]:
        answer(cache, key)
    assert cache.get(keys[0]) is not None  # now the most recently used
    answer(cache, keys[3])
    assert len(cache) == 3
    assert cache.get(keys[1]) is None
    assert all(cache.get(k) is not None for k in (keys[0], keys[2], keys[3]))


def test_too_large_bodies_and_expired_entries_are_not_served() -> None:
    cache = StorefrontCache(max_entries=10, ttl=0.05, max_body_bytes=4)
    store = uuid.uuid4()
    answer(cache, (store, "/big", ()), b"12345")
    assert cache.get((store, "/big", ())) is None
    answer(cache, (store, "/small", ()), b"1234")
    assert cache.get((store, "/small", ())) is not None
    time.sleep(0.06)
    assert cache.get((store, "/small", ())) is None
    assert len(cache) == 0


def test_drop_forgets_one_store_and_refuses_answers_read_before_it() -> None:
    cache = StorefrontCache(max_entries=10, ttl=60, max_body_bytes=100)
    a, b = uuid.uuid4(), uuid.uuid4()
    answer(cache, (a, "/p", ()))
    answer(cache, (b, "/p", ()))
    in_flight = cache.generation(a)
    cache.drop(a)
    assert cache.get((a, "/p", ())) is None
    assert cache.get((b, "/p", ())) is not None
    cache.put((a, "/p", ()), in_flight, 200, [], b"stale")  # read before the drop
    assert cache.get((a, "/p", ())) is None
    cache.drop(None)
    assert len(cache) == 0


def test_the_key_is_the_parsed_query_in_a_stable_order() -> None:
    assert query_key(b"limit=20&currency=EUR") == query_key(b"currency=EUR&limit=20")
    assert query_key(b"currency=EUR") != query_key(b"currency=USD")
    assert query_key(b"q=a&q=b") != query_key(b"q=b&q=a")  # the last one wins in the app
    assert cached_route("/api/storefront/products/some-slug") == "/api/storefront/products/{slug}"
    assert cached_route("/api/storefront/categories/x/products") == (
        "/api/storefront/categories/{slug}/products"
    )
    assert cached_route("/api/storefront/cart") is None
    assert cached_route("/api/stores/x/products") is None


def test_written_tables_are_read_off_the_sql() -> None:
    assert tables_written("SELECT * FROM products FOR UPDATE") == set()
    assert tables_written('UPDATE "s1".inventory SET on_hand = 1') == {"inventory"}
    assert tables_written("WITH d AS (DELETE FROM prices RETURNING 1) SELECT 1") == {"prices"}
    assert tables_written("INSERT INTO carts (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = 1")
    assert tables_written("CALL something()") == {UNKNOWN}


def test_public_tables_are_tenant_tables() -> None:
    assert STOCK_TABLES <= PUBLIC_TABLES <= set(TenantBase.metadata.tables)


# --- in the app ---------------------------------------------------------------------------


def test_anonymous_200s_are_served_from_the_cache_until_a_write(
    client: TestClient, stores: Stores
) -> None:
    shop = stores.create("pool")
    made = client.post(api(shop, "/products"), headers=shop["headers"], json=tshirt())
    assert made.status_code == 201, made.text
    cache = cache_of(client)
    first = client.get(PRODUCTS, headers=front(shop))
    hits = cache.hits
    again = client.get(PRODUCTS, headers=front(shop))
    assert cache.hits == hits + 1
    assert (again.status_code, again.content) == (200, first.content)
    assert again.headers["content-type"] == first.headers["content-type"]
    rule = {"name": "sale", "kind": "sale", "percent_off_bp": 5000}
    assert client.post(api(shop, "/price-rules"), headers=shop["headers"], json=rule).is_success
    after = client.get(PRODUCTS, headers=front(shop))  # this process: dropped at commit
    assert after.json()["items"][0]["price"] != first.json()["items"][0]["price"]


def test_requests_with_credentials_and_non_200s_bypass_the_cache(
    client: TestClient, stores: Stores
) -> None:
    shop = stores.create("pool")
    cache = cache_of(client)
    size = len(cache)
    with_token = {**front(shop), **shop["headers"]}
    for _ in range(2):
        assert client.get(PRODUCTS, headers=with_token).status_code == 200
        assert client.get(PRODUCTS, headers={**front(shop), "Cookie": "a=b"}).status_code == 200
        assert client.get(f"{PRODUCTS}/missing", headers=front(shop)).status_code == 404
        assert client.get(PRODUCTS + "?limit=0", headers=front(shop)).status_code == 422
    assert len(cache) == size


def test_a_reconnecting_listener_drops_everything(control_db: URL) -> None:
    async def scenario() -> list[uuid.UUID | None]:
        told: asyncio.Queue[uuid.UUID | None] = asyncio.Queue()
        resolver: Any = type("R", (), {"invalidate": lambda self: None})()
        listener = RoutingListener(control_db, resolver, storefront=told.put_nowait)
        await listener.open()
        store = uuid.uuid4()
        seen = [await asyncio.wait_for(told.get(), 5)]
        async with await psycopg.AsyncConnection.connect(
            libpq_conninfo(control_db), autocommit=True
        ) as conn:
            await conn.execute("SELECT pg_notify('storefleet_storefront', %s)", (str(store),))
            seen.append(await asyncio.wait_for(told.get(), 5))
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'storefleet-routing' AND datname = current_database()"
            )
        seen.append(await asyncio.wait_for(told.get(), 10))
        await listener.stop()
        assert seen[1] == store
        return seen

    # Connected: nothing cached before may be trusted; told; reconnected: the same again.
    assert asyncio.run(scenario())[::2] == [None, None]


def test_catalog_writes_announce_at_once_and_stock_writes_once_per_lag() -> None:
    class NoControlDatabase:
        def connect(self) -> Any:
            raise OSError("not in this test")  # announce logs it; the local drop still happens

    async def scenario() -> list[tuple[str, float]]:
        changes = StorefrontChanges(
            NoControlDatabase(),  # type: ignore[arg-type]
            public_tables=PUBLIC_TABLES,
            stock_tables=STOCK_TABLES,
            stock_lag=0.3,
        )
        started = time.monotonic()
        dropped: list[tuple[str, float]] = []
        changes.subscribers.append(lambda s: dropped.append((str(s), time.monotonic() - started)))
        store = uuid.uuid4()
        await changes.committed(store, frozenset({"orders", "carts"}))  # nothing public
        await changes.committed(store, frozenset({"inventory", "orders"}))  # at once
        await changes.committed(store, frozenset({"inventory"}))  # at the window's end
        await changes.committed(store, frozenset({"inventory"}))  # folded into that one
        await changes.committed(store, frozenset({"prices"}))  # at once
        await changes.committed(store, frozenset({UNKNOWN}))  # at once
        await asyncio.sleep(0.5)
        await changes.aclose()
        return dropped

    times = [at for _, at in asyncio.run(scenario())]
    assert len(times) == 4
    assert times[2] < 0.2 and 0.25 <= times[3] < 0.5
