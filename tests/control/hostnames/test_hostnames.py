"""The hostname claim and verification flow through the API, and its migration.

The module's app has the test-domain switch off and asks a DNS server on localhost; a
second app on the same control plane keeps the test defaults (switch on), as another
process would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
from alembic import command
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.db.migrate import alembic_config, upgrade_control
from storefleet.db.urls import libpq_conninfo, with_database
from storefleet.testing import Stores, admin_execute, drop_database, make_settings, unique_name
from tests.dnsserver import DnsServer, dns_server

STOREFRONT = "/api/storefront/store"
Store = dict[str, object]


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with dns_server() as server:
        yield server


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL, dns: DnsServer) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"),
        control_db,
        hostname_test_domains_verified=False,
        hostname_dns_nameservers=["127.0.0.1"],
        hostname_dns_port=dns.port,
        hostname_dns_timeout_seconds=0.5,
    )


@pytest.fixture(scope="module")
def other_process(settings: Settings, control_db: URL) -> Iterator[TestClient]:
    defaults = make_settings(settings.home, control_db)
    with TestClient(create_app(defaults, control_db), raise_server_exceptions=False) as c:
        yield c


def fresh_host(suffix: str = "owner-domain.com") -> str:
    return f"{unique_name('h').replace('_', '-')}.{suffix}"


def url(store: Store, tail: str = "") -> str:
    return f"/api/stores/{store['id']}/hostnames{tail}"


def headers(store: Store) -> dict[str, str]:
    found: dict[str, str] = store["headers"]  # type: ignore[assignment]
    return found


def claim(client: TestClient, store: Store, hostname: str, **extra: object) -> httpx.Response:
    return client.post(url(store), headers=headers(store), json={"hostname": hostname, **extra})


def claimed(client: TestClient, store: Store, hostname: str) -> dict:
    response = claim(client, store, hostname)
    assert response.status_code == 201, response.text
    body: dict = response.json()
    return body


def verify(client: TestClient, store: Store, hostname_id: str) -> httpx.Response:
    return client.post(url(store, f"/{hostname_id}/verify"), headers=headers(store))


def publish(dns: DnsServer, body: dict) -> None:
    dns.records.setdefault(body["verification"]["name"], []).append(body["verification"]["value"])


def listed(client: TestClient, store: Store) -> list[dict]:
    items: list[dict] = client.get(url(store), headers=headers(store)).json()["items"]
    return items


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_test_domains_verify_at_once_only_where_the_switch_is_on(
    client: TestClient, other_process: TestClient, stores: Stores, dns: DnsServer
) -> None:
    store = stores.create("pool")
    here = claimed(client, store, fresh_host("shop.example"))
    assert here["status"] == "pending"  # switch off: even a test domain needs its record
    there = claimed(other_process, store, fresh_host("shop.example"))
    assert there["status"] == "verified" and there["is_primary"] is True
    real = claimed(other_process, store, fresh_host())
    assert real["status"] == "pending"  # a real domain needs proof everywhere
    assert other_process.get(STOREFRONT, headers={"Host": real["hostname"]}).status_code == 404
    dev_demo = claimed(other_process, store, fresh_host("localhost"))
    assert dev_demo["status"] == "verified"
    assert claim(client, store, fresh_host("localhost")).status_code == 422


def test_primary_needs_a_verified_hostname(
    client: TestClient, stores: Stores, dns: DnsServer
) -> None:
    store = stores.create("schema")
    refused = claim(client, store, fresh_host(), primary=True)
    assert refused.status_code == 409, refused.text
    assert refused.json()["errors"][0]["field"] == "primary"
    assert listed(client, store) == []  # nothing half-written
    first, second, third = (claimed(client, store, fresh_host()) for _ in range(3))
    pending_primary = client.patch(
        url(store, f"/{second['id']}"), headers=headers(store), json={"primary": True}
    )
    assert pending_primary.status_code == 409
    assert pending_primary.json()["errors"][0]["field"] == "primary"
    for body in (second, first):
        publish(dns, body)
        assert verify(client, store, body["id"]).status_code == 200
    # The first to be verified became primary; the other verified one can take over.
    assert [h["hostname"] for h in listed(client, store) if h["is_primary"]] == [second["hostname"]]
    served = client.get(STOREFRONT, headers={"Host": first["hostname"]}).json()
    assert served["hostname"] == second["hostname"]
    moved = client.patch(
        url(store, f"/{first['id']}"), headers=headers(store), json={"primary": True}
    )
    assert moved.status_code == 200 and moved.json()["is_primary"] is True
    assert (
        client.get(STOREFRONT, headers={"Host": first["hostname"]}).json()["hostname"]
        == (first["hostname"])
    )
    # Removing the primary promotes the oldest verified hostname, never a pending one.
    assert client.delete(url(store, f"/{first['id']}"), headers=headers(store)).status_code == 204
    state = {h["hostname"]: (h["status"], h["is_primary"]) for h in listed(client, store)}
    assert state == {
        second["hostname"]: ("verified", True),
        third["hostname"]: ("pending", False),
    }
    # Verifying again is a no-op answer, not a new lookup.
    queries = len(dns.queries)
    again = verify(client, store, second["id"])
    assert again.status_code == 200 and again.json()["status"] == "verified"
    assert len(dns.queries) == queries


def test_failed_checks_are_recorded_and_explained(
    client: TestClient, stores: Stores, dns: DnsServer
) -> None:
    store = stores.create("pool")
    body = claimed(client, store, fresh_host())
    dns.records[body["verification"]["name"]] = []
    empty = verify(client, store, body["id"])
    assert empty.status_code == 409
    problem = empty.json()
    assert problem["reason"] == "no-record"
    assert problem["record_name"] == f"_storefleet.{body['hostname']}"
    assert problem["expected"] == body["verification"]["value"]
    assert problem["found"] == []
    dns.silent.add(body["verification"]["name"])
    started = time.monotonic()
    slow = verify(client, store, body["id"])
    assert time.monotonic() - started < 5
    assert slow.status_code == 409 and slow.json()["reason"] == "timeout", slow.text
    (row,) = listed(client, store)
    assert row["status"] == "pending" and "timed out" in row["last_error"]
    assert row["last_checked_at"] is not None and row["verification"] == body["verification"]
    dns.silent.discard(body["verification"]["name"])
    publish(dns, body)
    assert verify(client, store, body["id"]).status_code == 200
    (row,) = listed(client, store)
    assert row["last_error"] is None and row["verified_at"] is not None


def test_first_store_to_verify_holds_the_name(
    client: TestClient, stores: Stores, dns: DnsServer
) -> None:
    early, late = stores.create("pool"), stores.create("pool")
    host = fresh_host()
    early_claim, late_claim = claimed(client, early, host), claimed(client, late, host)
    publish(dns, late_claim)
    publish(dns, early_claim)
    assert verify(client, late, late_claim["id"]).status_code == 200
    taken = verify(client, early, early_claim["id"])
    assert taken.status_code == 409 and taken.json()["reason"] == "taken"
    assert str(late["id"]) not in taken.text
    # Once held, new claims of the name are refused outright...
    third = stores.create("pool")
    assert claim(client, third, host).status_code == 409
    assert client.get(STOREFRONT, headers={"Host": host}).json()["id"] == late["id"]
    # ...until the holder lets it go; then the waiting claim can be verified.
    (held,) = listed(client, late)
    assert client.delete(url(late, f"/{held['id']}"), headers=headers(late)).status_code == 204
    assert verify(client, early, early_claim["id"]).status_code == 200
    assert client.get(STOREFRONT, headers={"Host": host}).json()["id"] == early["id"]


def test_verification_reaches_every_process(
    client: TestClient, other_process: TestClient, stores: Stores, dns: DnsServer
) -> None:
    store = stores.create("database")
    body = claimed(client, store, fresh_host())
    host = body["hostname"]
    miss = other_process.get(STOREFRONT, headers={"Host": host})
    assert miss.status_code == 404  # and now cached there as "no store"
    assert host in other_process.app.state.runtime.resolver._hosts  # type: ignore[attr-defined]
    publish(dns, body)
    assert verify(client, store, body["id"]).status_code == 200
    assert eventually(
        lambda: other_process.get(STOREFRONT, headers={"Host": host}).status_code == 200
    )
    assert other_process.get(STOREFRONT, headers={"Host": host}).json()["id"] == store["id"]


def test_only_changes_to_routing_notify(
    client: TestClient, stores: Stores, dns: DnsServer, control_db: URL
) -> None:
    """A pending claim or a failed check must not clear every process's routing cache."""
    store = stores.create("pool")
    with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
        conn.execute("LISTEN storefleet_routing")

        def heard() -> list[str]:
            return [n.payload for n in conn.notifies(timeout=0.5)]

        heard()  # whatever the store's creation sent
        body = claimed(client, store, fresh_host())
        assert verify(client, store, body["id"]).status_code == 409
        assert heard() == []
        publish(dns, body)
        assert verify(client, store, body["id"]).status_code == 200
        assert heard() == [f"store_hostnames:{store['id']}"]
        assert (
            client.delete(url(store, f"/{body['id']}"), headers=headers(store)).status_code == 204
        )
        assert heard() == [f"store_hostnames:{store['id']}"]


def test_store_created_with_a_hostname_gets_a_pending_claim(
    client: TestClient, stores: Stores, dns: DnsServer
) -> None:
    host = fresh_host()
    store = stores.create("pool", hostname=host)
    (row,) = listed(client, store)
    assert (row["hostname"], row["status"], row["is_primary"]) == (host, "pending", False)
    assert client.get(STOREFRONT, headers={"Host": host}).status_code == 404
    publish(dns, row)
    assert verify(client, store, row["id"]).status_code == 200
    served = client.get(STOREFRONT, headers={"Host": host}).json()
    assert (served["id"], served["hostname"]) == (store["id"], host)


def test_migration_keeps_existing_hostnames_routable(pg_server: URL) -> None:
    name = unique_name("sf_c0005")
    admin_execute(pg_server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    target = with_database(pg_server, name)
    try:
        upgrade_control(target, "c0004")
        account, store = uuid.uuid4(), uuid.uuid4()
        with psycopg.connect(libpq_conninfo(target), autocommit=True) as conn:
            conn.execute(
                "INSERT INTO accounts (id, email, password_hash, first_name, last_name,"
                " account_type, is_active, email_verified, token_version)"
                " VALUES (%s, 'm@example.com', 'x', 'M', 'G', 'agency', true, true, 0)",
                (account,),
            )
            conn.execute(
                "INSERT INTO stores (id, owner_id, name, slug, status, is_active)"
                " VALUES (%s, %s, 'Old', 'old-store', 'active', true)",
                (store, account),
            )
            conn.execute(
                "INSERT INTO store_hostnames (id, store_id, hostname, is_primary)"
                " VALUES (%s, %s, 'old.customer.com', true)",
                (uuid.uuid4(), store),
            )
        upgrade_control(target, "c0005_hostname_verification")
        with psycopg.connect(libpq_conninfo(target), autocommit=True) as conn:
            row = conn.execute(
                "SELECT status, is_primary, verified_at = created_at, length(verification_token)"
                " FROM store_hostnames"
            ).fetchone()
            assert row == ("verified", True, True, 32)
            # A second store may now hold a pending claim of the same name, not a verified one.
            conn.execute(
                "INSERT INTO stores (id, owner_id, name, slug, status, is_active)"
                " VALUES (%s, %s, 'New', 'new-store', 'active', true)",
                (other := uuid.uuid4(), account),
            )
            conn.execute(
                "INSERT INTO store_hostnames (id, store_id, hostname, is_primary,"
                " verification_token) VALUES (%s, %s, 'old.customer.com', false, 't')",
                (uuid.uuid4(), other),
            )
            with pytest.raises(psycopg.errors.UniqueViolation):
                conn.execute(
                    "UPDATE store_hostnames SET status = 'verified', verified_at = now()"
                    " WHERE store_id = %s",
                    (other,),
                )
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(
                    "UPDATE store_hostnames SET is_primary = true WHERE store_id = %s", (other,)
                )
        command.downgrade(alembic_config(target), "c0004")
        with psycopg.connect(libpq_conninfo(target), autocommit=True) as conn:
            left = conn.execute("SELECT store_id, hostname FROM store_hostnames").fetchall()
            assert left == [(store, "old.customer.com")]  # the pending claim went
    finally:
        drop_database(pg_server, name)
