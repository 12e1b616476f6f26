"""Connections to a store owner's database: limits, pinned addresses, no credential of ours.

The owner's server here is a real second PostgreSQL that checks passwords with SCRAM
(``tests/scramserver.py``), reached with the platform's *default* policy
(``require_auth=scram-sha-256``); a stalled server is a TCP port that accepts and never
answers. Names are resolved by a fake ``getaddrinfo`` that only our own resolver consults:
libpq never sees the name resolve, so a request that works proves it went to the pinned,
checked address.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.control.credits import outbox
from storefleet.control.credits import service as credits
from storefleet.control.placements.credentials import external_credentials_aad
from storefleet.db.foreign import ForeignPolicy
from storefleet.db.urls import libpq_conninfo, libpq_uri, parse_url
from storefleet.runtime import Runtime
from storefleet.tenancy.external import ExternalDatabaseError, validate_url_shape
from storefleet.tenancy.inspection import inspect_external_database
from storefleet.testing import Accounts, Stores, make_settings
from tests.conftest import BlackHole
from tests.scramserver import ScramServer
from tests.tenancy.move_helpers import runtime_of
from tests.tenancy.test_connect_database import ExternalDb

OWNER_HOST = "owner-db.example.test"


@pytest.fixture(scope="module")
def owner_app(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Iterator[TestClient]:
    """The platform with its default owner-database policy; only local targets opted in."""
    settings = make_settings(
        tmp_path_factory.mktemp("owner-home"),
        control_db,
        owner_database_require_auth="scram-sha-256",
        owner_connect_timeout_seconds=2,
        owner_statement_timeout_seconds=3,
        owner_address_ttl_seconds=0.5,
        tenant_statement_timeout_seconds=4,
        credit_outbox_enabled=False,
        # These tests watch each storefront read reach the owner's server (or fail to); a
        # cached answer would hide that.
        storefront_cache_enabled=False,
    )
    with TestClient(create_app(settings, control_db), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def owner_stores(owner_app: TestClient) -> Stores:
    return Stores(owner_app, Accounts(owner_app))


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``OWNER_HOST`` resolves (for our resolver only) to whatever the test puts here."""
    answers = {OWNER_HOST: "127.0.0.1"}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == OWNER_HOST:
            return real(answers[OWNER_HOST], port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def owner_db(scram_pg: ScramServer) -> Iterator[ExternalDb]:
    db = ExternalDb(scram_pg.url())
    yield db
    db.drop()


def connect(client: TestClient, store: dict[str, Any], url: str) -> Any:
    return client.post(
        f"/api/stores/{store['id']}/connect-database",
        headers=store["headers"],
        json={"database_url": url},
    )


def run(client: TestClient, fn: Any, *args: Any) -> Any:
    return client.portal.call(fn, *args)  # type: ignore[union-attr]


# --- the policy ----------------------------------------------------------------------


def test_owner_urls_need_a_password() -> None:
    with pytest.raises(ExternalDatabaseError) as info:
        validate_url_shape("postgresql://owner@db.example.com/shop", allow_private=False)
    assert "no password" in info.value.detail and info.value.field == "database_url"


def test_a_server_that_does_not_check_the_password_is_refused(pg_server: URL) -> None:
    """The suite's own server trusts its clients: under the default policy that is refused."""
    raw = libpq_uri(pg_server.set(password=pg_server.password or "whatever"))
    with pytest.raises(ExternalDatabaseError) as info:
        asyncio.run(inspect_external_database(raw, allow_private=True, policy=ForeignPolicy()))
    assert "SCRAM-SHA-256" in info.value.detail


def test_a_scram_server_is_accepted_and_a_wrong_password_explained(
    scram_pg: ScramServer,
) -> None:
    report, checked = asyncio.run(
        inspect_external_database(
            libpq_uri(scram_pg.url()), allow_private=True, policy=ForeignPolicy()
        )
    )
    assert report.is_superuser and checked.addresses == ("127.0.0.1",)
    with pytest.raises(ExternalDatabaseError, match="was not accepted"):
        asyncio.run(
            inspect_external_database(
                libpq_uri(scram_pg.url().set(password="wrong")),
                allow_private=True,
                policy=ForeignPolicy(),
            )
        )


def test_a_stalled_server_and_a_closed_port_get_the_same_answer_in_time(
    black_hole: BlackHole,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    policy = ForeignPolicy(connect_timeout=2)

    def answer(port: int) -> tuple[str, float]:
        raw = f"postgresql://owner:pw@127.0.0.1:{port}/shop"
        started = time.monotonic()
        with pytest.raises(ExternalDatabaseError) as info:
            asyncio.run(inspect_external_database(raw, allow_private=True, policy=policy))
        return info.value.detail.replace(str(port), "PORT"), time.monotonic() - started

    stalled, stalled_seconds = answer(black_hole.port)
    refused, _ = answer(closed)
    assert stalled == refused  # no port-scan oracle in the words
    assert stalled_seconds < 2 + 3  # connect_timeout, and a little


def test_private_targets_are_refused_by_default() -> None:
    from storefleet.config import Settings

    assert Settings(environment="development").private_databases_allowed is False
    assert Settings(environment="test").private_databases_allowed is False


# --- a connected store ---------------------------------------------------------------


def test_every_owner_connection_is_pinned_limited_and_read_only_where_it_reads(
    owner_app: TestClient,
    owner_stores: Stores,
    owner_db: ExternalDb,
    fake_dns: dict[str, str],
) -> None:
    runtime = runtime_of(owner_app)
    store = owner_stores.create("pool")
    url = parse_url(owner_db.url()).set(host=OWNER_HOST)
    response = connect(owner_app, store, libpq_uri(url))
    assert response.status_code == 200, response.text
    store_id = uuid.UUID(str(store["id"]))

    async def probe() -> dict[str, Any]:
        where = await runtime.tenancy.placement(store_id, fresh=True)
        admin = await runtime.tenancy.admin_url(where)
        found: dict[str, Any] = {"admin_query": dict(admin.query)}
        async with await psycopg.AsyncConnection.connect(libpq_conninfo(admin)) as conn:
            for name in ("search_path", "statement_timeout", "lock_timeout"):
                row = await (await conn.execute(f"SHOW {name}")).fetchone()
                found[name] = row[0] if row else None
            try:
                await conn.execute("SELECT pg_sleep(10)")
            except psycopg.errors.QueryCanceled:
                found["long_statement"] = "cancelled"
        async with runtime.tenancy.session(where, write=False) as s:
            found["read_only"] = (await s.execute(text("SHOW transaction_read_only"))).scalar()
            found["tenant_timeout"] = (await s.execute(text("SHOW statement_timeout"))).scalar()
        return found

    found = run(owner_app, probe)
    assert found["admin_query"]["hostaddr"] == "127.0.0.1"
    assert found["admin_query"]["host"] == OWNER_HOST  # kept for TLS
    assert found["admin_query"]["passfile"] == "/dev/null"
    assert found["admin_query"]["require_auth"] == "scram-sha-256"
    assert found["search_path"] == "pg_catalog"
    assert (found["statement_timeout"], found["lock_timeout"]) == ("3s", "10s")
    assert found["long_statement"] == "cancelled"
    assert found["read_only"] == "on"
    assert found["tenant_timeout"] == "4s"
    # The storefront works although libpq itself could never resolve OWNER_HOST.
    front = owner_app.get("/api/storefront/store", headers={"X-Store-Id": str(store_id)})
    assert front.status_code == 200, front.text


def test_a_changed_address_is_checked_again_and_a_new_engine_follows_it(
    owner_app: TestClient,
    owner_stores: Stores,
    owner_db: ExternalDb,
    fake_dns: dict[str, str],
) -> None:
    runtime = runtime_of(owner_app)
    store = owner_stores.create("pool")
    url = parse_url(owner_db.url()).set(host=OWNER_HOST)
    assert connect(owner_app, store, libpq_uri(url)).status_code == 200
    front = {"X-Store-Id": str(store["id"])}
    assert owner_app.get("/api/storefront/store", headers=front).status_code == 200

    # The owner's DNS now points somewhere nothing listens: within the TTL nothing changes
    # (the checked address is pinned), after it the new address is checked and used.
    fake_dns[OWNER_HOST] = "127.0.0.2"
    assert owner_app.get("/api/storefront/store", headers=front).status_code == 200
    time.sleep(0.6)
    moved = owner_app.get("/api/storefront/store", headers=front)
    assert moved.status_code == 503, moved.text
    assert moved.headers["retry-after"]

    # Back to the real address, but the platform's policy now refuses private targets: the
    # repeated check refuses it rather than trusting the first answer for ever.
    fake_dns[OWNER_HOST] = "127.0.0.1"
    strict = dataclasses.replace(runtime.tenancy.limits, allow_private=False)
    runtime.tenancy.limits = strict
    try:
        time.sleep(0.6)
        refused = owner_app.get("/api/storefront/store", headers=front)
        assert refused.status_code == 503 and "loopback" in refused.json()["detail"]
    finally:
        runtime.tenancy.limits = dataclasses.replace(strict, allow_private=True)
    time.sleep(0.6)
    assert owner_app.get("/api/storefront/store", headers=front).status_code == 200


def _point_store_at(
    runtime: Runtime, control: psycopg.Connection, store_id: str, port: int
) -> None:
    """Rewrite the store's owner URL to ``127.0.0.1:port`` (the owner's server stalls)."""
    row = control.execute(
        "SELECT credentials_ciphertext FROM store_databases WHERE store_id = %s", (store_id,)
    ).fetchone()
    assert row is not None
    aad = external_credentials_aad(uuid.UUID(store_id))
    creds = json.loads(runtime.keyring.decrypt_text(row[0], aad))
    creds["url"] = libpq_uri(parse_url(creds["url"]).set(host="127.0.0.1", port=port))
    control.execute(
        "UPDATE store_databases SET credentials_ciphertext = %s WHERE store_id = %s",
        (runtime.keyring.encrypt_text(json.dumps(creds), aad), store_id),
    )


def test_a_stalled_owner_database_costs_only_its_own_store(
    owner_app: TestClient,
    owner_stores: Stores,
    owner_db: ExternalDb,
    control_conn: psycopg.Connection,
    black_hole: BlackHole,
) -> None:
    runtime = runtime_of(owner_app)
    stalled = owner_stores.create("pool")
    assert connect(owner_app, stalled, owner_db.url()).status_code == 200
    healthy = owner_stores.create("pool")
    for store in (stalled, healthy):
        run(
            owner_app,
            lambda sid=store["id"]: credits.grant(
                runtime.control_sessions,
                uuid.UUID(str(sid)),
                5,
                idempotency_key="owner-stall",
                actor="test",
            ),
        )
    _point_store_at(runtime, control_conn, str(stalled["id"]), black_hole.port)
    runtime.resolver.invalidate(uuid.UUID(str(stalled["id"])))

    answers: dict[str, tuple[int, float]] = {}

    def get(label: str, store: dict[str, Any]) -> None:
        started = time.monotonic()
        r = owner_app.get(f"/api/stores/{store['id']}/profile", headers=store["headers"])
        answers[label] = (r.status_code, time.monotonic() - started)

    slow = threading.Thread(target=get, args=("stalled", stalled))
    slow.start()
    time.sleep(0.2)
    get("healthy", healthy)
    slow.join(timeout=30)
    assert answers["healthy"][0] == 200 and answers["healthy"][1] < 1.5
    assert answers["stalled"][0] == 503 and answers["stalled"][1] < 2 + 3

    started = time.monotonic()
    report = run(owner_app, lambda: outbox.deliver_pending(runtime, store_timeout=3))
    elapsed = time.monotonic() - started
    assert uuid.UUID(str(stalled["id"])) in report.failed
    assert uuid.UUID(str(healthy["id"])) not in report.failed
    assert elapsed < 3 + 2
    pending = control_conn.execute(
        "SELECT store_id::text, attempts, last_error IS NOT NULL FROM credit_outbox "
        "WHERE delivered_at IS NULL AND store_id = ANY(%s)",
        ([str(stalled["id"]), str(healthy["id"])],),
    ).fetchall()
    assert {(p[0], p[1] >= 1, p[2]) for p in pending} == {(str(stalled["id"]), True, True)}


def test_fleet_migration_goes_on_when_an_owner_database_fails_its_address_check(
    owner_app: TestClient,
    owner_stores: Stores,
    owner_db: ExternalDb,
    fake_dns: dict[str, str],
) -> None:
    from storefleet.control.placements.fleet import migrate_fleet

    runtime = runtime_of(owner_app)
    owned = owner_stores.create("pool")
    url = parse_url(owner_db.url()).set(host=OWNER_HOST)
    assert connect(owner_app, owned, libpq_uri(url)).status_code == 200
    other = owner_stores.create("schema")
    ids = [uuid.UUID(str(owned["id"])), uuid.UUID(str(other["id"]))]
    runtime.tenancy.limits = dataclasses.replace(runtime.tenancy.limits, allow_private=False)
    runtime.tenancy.invalidate()
    try:
        report = run(owner_app, lambda: migrate_fleet(runtime, store_ids=ids, dry_run=True))
    finally:
        runtime.tenancy.limits = dataclasses.replace(runtime.tenancy.limits, allow_private=True)
        runtime.tenancy.invalidate()
    failed = {sid for r in report.failed for sid in r.unit.store_ids}
    assert failed == {ids[0]}
    assert "loopback" in (report.failed[0].error or "")
    done = {sid for r in report.results if r.outcome != "failed" for sid in r.unit.store_ids}
    assert ids[1] in done
