"""Hostnames API and store routing: Host, X-Store-Id and token must agree; caches follow NOTIFY."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.db.urls import libpq_conninfo
from storefleet.runtime import Runtime
from storefleet.testing import PLACEMENTS, Accounts, Stores, bearer, unique_name
from tests.pgbouncer import PgBouncer, pgbouncer  # noqa: F401

STOREFRONT = "/api/storefront/store"


def host() -> str:
    return f"{unique_name('h').replace('_', '-')}.shop.example"


def hostnames_url(store: dict[str, object]) -> str:
    return f"/api/stores/{store['id']}/hostnames"


def add_host(client: TestClient, store: dict[str, object], name: str, **extra: object) -> dict:
    response = client.post(
        hostnames_url(store), headers=store["headers"], json={"hostname": name, **extra}
    )
    assert response.status_code == 201, response.text
    body: dict = response.json()
    return body


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def error_fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


# -- hostnames API ----------------------------------------------------------------------


def test_hostnames_are_normalized(client: TestClient, stores: Stores) -> None:
    store = stores.create("pool")
    label = unique_name("n").replace("_", "-")
    created = add_host(client, store, f"Shop.{label}.Example.COM:8080")
    assert created["hostname"] == f"shop.{label}.example.com"
    assert created["is_primary"] is True
    idna = add_host(client, store, f"bücher.{label}.example")
    assert idna["hostname"] == f"xn--bcher-kva.{label}.example"
    assert idna["is_primary"] is False
    for bad in ("not a host", "localhost", "10.0.0.1", "[::1]:80", "a..b", "-x.example"):
        response = client.post(
            hostnames_url(store), headers=store["headers"], json={"hostname": bad}
        )
        assert response.status_code == 422, (bad, response.text)
        assert error_fields(response) == ["hostname"]
    listed = client.get(hostnames_url(store), headers=store["headers"]).json()["items"]
    assert [h["hostname"] for h in listed] == [
        f"shop.{label}.example.com",
        f"xn--bcher-kva.{label}.example",
    ]
    assert set(listed[0]) == {
        "id", "hostname", "is_primary", "status", "verified_at", "last_checked_at",
        "last_error", "verification", "created_at",
    }  # fmt: skip
    assert listed[0]["status"] == "verified"  # a test domain, verified at once in tests


def test_hostname_unique_platform_wide(client: TestClient, stores: Stores) -> None:
    first, second = stores.create("pool"), stores.create("schema")
    name = host()
    add_host(client, first, name)
    for variant in (name, name.upper(), f"{name}:443", f"{name}."):
        response = client.post(
            hostnames_url(second), headers=second["headers"], json={"hostname": variant}
        )
        assert response.status_code == 409, response.text
        assert error_fields(response) == ["hostname"]
    assert client.get(hostnames_url(second), headers=second["headers"]).json()["items"] == []


def test_primary_hostname_moves_and_is_promoted(client: TestClient, stores: Stores) -> None:
    store = stores.create("pool")
    a, b, c = host(), host(), host()
    first = add_host(client, store, a)
    add_host(client, store, b)
    third = add_host(client, store, c, primary=True)

    def primaries() -> list[str]:
        items = client.get(hostnames_url(store), headers=store["headers"]).json()["items"]
        return [h["hostname"] for h in items if h["is_primary"]]

    assert first["is_primary"] and third["is_primary"]
    assert primaries() == [c]
    response = client.delete(f"{hostnames_url(store)}/{third['id']}", headers=store["headers"])
    assert response.status_code == 204
    assert primaries() == [a]  # the oldest remaining hostname takes over
    served = client.get(STOREFRONT, headers={"Host": b}).json()
    assert served["hostname"] == a


def test_other_store_hostname_is_not_found(
    client: TestClient, stores: Stores, accounts: Accounts
) -> None:
    mine, theirs = stores.create("pool"), stores.create("pool")
    their_host = add_host(client, theirs, host())
    response = client.delete(f"{hostnames_url(mine)}/{their_host['id']}", headers=mine["headers"])
    assert response.status_code == 404
    response = client.delete(f"{hostnames_url(mine)}/{uuid.uuid4()}", headers=mine["headers"])
    assert response.status_code == 404
    stranger = accounts.register()
    for method in ("get", "post"):
        response = client.request(
            method,
            hostnames_url(theirs),
            headers=bearer(stranger["token"]),
            json={"hostname": host()},
        )
        assert response.status_code == 404, response.text
    items = client.get(hostnames_url(theirs), headers=theirs["headers"]).json()["items"]
    assert [h["id"] for h in items] == [their_host["id"]]


# -- routing ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bounced(
    settings: Settings,
    control_db: URL,
    pgbouncer: PgBouncer,  # noqa: F811
) -> Iterator[TestClient]:
    """Another app whose tenant traffic goes through PgBouncer in transaction mode.

    Its runtime holds the default server's access with the bouncer's address, so every
    tenant connection it opens is a bouncer client; the control plane stays direct.
    """
    from storefleet.tenancy.source import ServerAccess

    with psycopg.connect(libpq_conninfo(control_db)) as conn:
        row = conn.execute("SELECT id FROM database_servers WHERE is_default").fetchone()
    assert row is not None
    with TestClient(create_app(settings, control_db), raise_server_exceptions=False) as c:
        runtime = runtime_of(c)
        real = c.portal.call(runtime.tenancy.server, row[0])  # type: ignore[union-attr]
        runtime.tenancy._servers[real.id] = ServerAccess(
            id=real.id,
            name=real.name,
            admin_url=pgbouncer.url_for("postgres", username=real.admin_url.username),
            app_password=real.app_password,
        )
        yield c
        ports = {e.engine.url.port for e in runtime.tenancy.registry._entries.values()}
        assert ports and ports <= {pgbouncer.port}, "a tenant connection bypassed the bouncer"


@pytest.fixture(params=["direct", "pgbouncer"])
def reader(request: pytest.FixtureRequest, client: TestClient) -> TestClient:
    """Who reads the storefront: this module's app, or the one behind PgBouncer."""
    if request.param == "direct":
        return client
    bounced_client: TestClient = request.getfixturevalue("bounced")
    return bounced_client


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_routes_by_host_and_store_id(
    client: TestClient, reader: TestClient, stores: Stores, placement: str
) -> None:
    store = stores.create(placement)
    other = stores.create(placement)
    name = host()
    add_host(client, store, name)
    add_host(client, other, host())
    for variant in (name, name.upper(), f"{name}:8443"):
        response = reader.get(STOREFRONT, headers={"Host": variant})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["id"], body["name"], body["slug"]) == (
            store["id"],
            store["name"],
            store["slug"],
        )
        assert body["hostname"] == name
        assert "settings" not in body and "contact_phone" not in body
    by_id = reader.get(STOREFRONT, headers={"X-Store-Id": str(other["id"])})
    assert by_id.status_code == 200
    assert by_id.json()["id"] == other["id"]
    agreeing = reader.get(STOREFRONT, headers={"Host": name, "X-Store-Id": str(store["id"])})
    assert agreeing.status_code == 200 and agreeing.json()["id"] == store["id"]


def test_conflicting_signals_are_rejected(
    client: TestClient, reader: TestClient, stores: Stores
) -> None:
    store, other = stores.create("pool"), stores.create("schema")
    name = host()
    add_host(client, store, name)
    conflict = reader.get(STOREFRONT, headers={"Host": name, "X-Store-Id": str(other["id"])})
    assert conflict.status_code == 400
    assert conflict.json()["conflict"] == ["Host", "X-Store-Id"]
    tokens = runtime_of(client).tokens
    customer = tokens.issue(
        sub=str(uuid.uuid4()), account_type="customer", role="customer", ver=1,
        store_id=str(other["id"]),
    )  # fmt: skip
    response = reader.get(STOREFRONT, headers={"Host": name, **bearer(customer)})
    assert response.status_code == 400
    assert response.json()["conflict"] == ["Host", "token store_id"]
    same = tokens.issue(
        sub=str(uuid.uuid4()), account_type="customer", role="customer", ver=1,
        store_id=str(store["id"]),
    )  # fmt: skip
    response = reader.get(STOREFRONT, headers={"Host": name, **bearer(same)})
    assert response.status_code == 200 and response.json()["id"] == store["id"]
    # The token alone is a signal too.
    assert reader.get(STOREFRONT, headers=bearer(customer)).json()["id"] == other["id"]
    assert reader.get(STOREFRONT, headers={"Host": name, **bearer("garbage")}).status_code == 401
    # An owner token names no store: the Host decides.
    owner = reader.get(STOREFRONT, headers={"Host": name, **store["headers"]})  # type: ignore[dict-item]
    assert owner.status_code == 200 and owner.json()["id"] == store["id"]


def test_no_or_unknown_signal(client: TestClient, reader: TestClient, stores: Stores) -> None:
    stores.create("pool")
    for headers in (
        {},
        {"Host": "unknown.example.org"},
        {"Host": "127.0.0.1:8000"},
        {"Host": "localhost"},
    ):
        response = reader.get(STOREFRONT, headers=headers)
        assert response.status_code == 404, (headers, response.text)
        assert response.json()["detail"] == "Store not found"
    assert reader.get(STOREFRONT, headers={"X-Store-Id": str(uuid.uuid4())}).status_code == 404
    bad = reader.get(STOREFRONT, headers={"X-Store-Id": "store-1"})
    assert bad.status_code == 400
    assert error_fields(bad) == ["X-Store-Id"]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_suspended_and_deleted_stores(
    client: TestClient,
    reader: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    placement: str,
) -> None:
    store = stores.create(placement)
    name = host()
    add_host(client, store, name)
    assert reader.get(STOREFRONT, headers={"Host": name}).status_code == 200  # now cached
    control_conn.execute("UPDATE stores SET status = 'suspended' WHERE id = %s", (store["id"],))
    # No explicit invalidation: the NOTIFY from the stores trigger clears the cached placement.
    assert eventually(lambda: reader.get(STOREFRONT, headers={"Host": name}).status_code == 423)
    by_id = reader.get(STOREFRONT, headers={"X-Store-Id": str(store["id"])})
    assert by_id.status_code == 423
    control_conn.execute("UPDATE stores SET status = 'active' WHERE id = %s", (store["id"],))
    assert eventually(lambda: reader.get(STOREFRONT, headers={"Host": name}).status_code == 200)
    assert client.delete(f"/api/stores/{store['id']}", headers=store["headers"]).status_code == 204
    # The other app learns of the deletion by NOTIFY, so it may take a moment there.
    for headers in ({"Host": name}, {"X-Store-Id": str(store["id"])}):
        assert eventually(
            lambda h=headers: reader.get(STOREFRONT, headers=h).status_code == 404  # type: ignore[misc]
        ), headers


# -- cross-process invalidation -----------------------------------------------------------


@pytest.fixture(scope="module")
def second_client(settings: Settings, control_db: URL) -> Iterator[TestClient]:
    """Another process's view: its own Runtime and caches on the same control database."""
    with TestClient(create_app(settings, control_db), raise_server_exceptions=False) as c:
        yield c


def test_hostname_added_elsewhere_becomes_routable(
    client: TestClient, second_client: TestClient, stores: Stores
) -> None:
    store = stores.create("schema")
    name = host()
    miss = second_client.get(STOREFRONT, headers={"Host": name})
    assert miss.status_code == 404
    assert name in runtime_of(second_client).resolver._hosts  # the miss is cached
    add_host(client, store, name)
    assert client.get(STOREFRONT, headers={"Host": name}).status_code == 200  # local: at once
    assert eventually(
        lambda: second_client.get(STOREFRONT, headers={"Host": name}).status_code == 200
    )
    assert second_client.get(STOREFRONT, headers={"Host": name}).json()["id"] == store["id"]
    hostname_id = client.get(hostnames_url(store), headers=store["headers"]).json()["items"][0][
        "id"
    ]
    client.delete(f"{hostnames_url(store)}/{hostname_id}", headers=store["headers"])
    assert eventually(
        lambda: second_client.get(STOREFRONT, headers={"Host": name}).status_code == 404
    )


def test_listener_reconnects_after_losing_its_connection(
    second_client: TestClient, client: TestClient, stores: Stores, control_conn: psycopg.Connection
) -> None:
    listener = second_client.app.state.routing_listener  # type: ignore[attr-defined]
    before = listener.connections
    control_conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'storefleet-routing' AND datname = current_database()"
    )
    assert eventually(lambda: listener.connections > before)
    store = stores.create("pool")
    name = host()
    assert second_client.get(STOREFRONT, headers={"Host": name}).status_code == 404
    add_host(client, store, name)
    assert eventually(
        lambda: second_client.get(STOREFRONT, headers={"Host": name}).status_code == 200
    )


# -- behind PgBouncer (transaction pooling) -----------------------------------------------


def test_storefront_behind_pgbouncer_never_leaks_context(
    settings: Settings,
    control_db: URL,
    client: TestClient,
    stores: Stores,
    control_conn: psycopg.Connection,
    pgbouncer: PgBouncer,  # noqa: F811
) -> None:
    """Two stores in one tenant database, requests alternating over a transaction pool."""
    from storefleet.control.servers.service import _aad

    pool_store, schema_store = stores.create("pool"), stores.create("schema")
    row = control_conn.execute(
        "SELECT id, admin_url_ciphertext FROM database_servers WHERE is_default"
    ).fetchone()
    assert row is not None
    server_id, original = row
    app = create_app(settings, control_db)
    with TestClient(app, raise_server_exceptions=False) as bounced:
        runtime = runtime_of(bounced)
        bouncer_url = pgbouncer.url_for("postgres")
        ciphertext = runtime.keyring.encrypt_text(
            bouncer_url.render_as_string(hide_password=False), _aad(server_id, "admin_url")
        )
        control_conn.execute(
            "UPDATE database_servers SET admin_url_ciphertext = %s WHERE id = %s",
            (ciphertext, server_id),
        )
        try:
            runtime.tenancy.forget_server(server_id)
            assert runtime.tenancy.registry.shared_engines() == 0  # none before the switch
            for i in range(60):
                store = (pool_store, schema_store)[i % 2]
                response = bounced.get(STOREFRONT, headers={"X-Store-Id": str(store["id"])})
                assert response.status_code == 200, response.text
                body = response.json()
                assert (body["id"], body["name"]) == (store["id"], store["name"]), i
            ports = {e.engine.url.port for e in runtime.tenancy.registry._shared.values()}
            assert ports == {pgbouncer.port}  # every tenant query went through the bouncer
        finally:
            control_conn.execute(
                "UPDATE database_servers SET admin_url_ciphertext = %s WHERE id = %s",
                (original, server_id),
            )
