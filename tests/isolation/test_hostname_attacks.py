"""Claiming hostnames one does not control: other stores', the platform's, unproven ones.

The app here runs without the test-domain switch, so every claim is pending until its TXT
record is found on a real DNS server on localhost (``tests.dnsserver``). Each refusal is
paired with the same call by the rightful owner, which works.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.config import Settings
from storefleet.testing import PLACEMENTS, Stores, make_settings, unique_name
from tests.dnsserver import DnsServer, dns_server

STOREFRONT = "/api/storefront/store"
API_HOST = "api.fleet.example"
ADMIN_HOST = "admin.fleet.example"

Store = dict[str, object]


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with dns_server() as server:
        yield server


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL, dns: DnsServer) -> Settings:
    home: Path = tmp_path_factory.mktemp("home")
    return make_settings(
        home,
        control_db,
        public_base_url=f"https://{API_HOST}",
        platform_hostnames=[ADMIN_HOST],
        hostname_test_domains_verified=False,
        hostname_dns_nameservers=["127.0.0.1"],
        hostname_dns_port=dns.port,
        hostname_dns_timeout_seconds=1.0,
    )


def fresh_host() -> str:
    return f"{unique_name('h').replace('_', '-')}.shop-owner.com"


def hostnames(store: Store) -> str:
    return f"/api/stores/{store['id']}/hostnames"


def claim(client: TestClient, store: Store, hostname: str) -> httpx.Response:
    return client.post(hostnames(store), headers=store["headers"], json={"hostname": hostname})  # type: ignore[arg-type]


def claimed(client: TestClient, store: Store, hostname: str) -> dict:
    response = claim(client, store, hostname)
    assert response.status_code == 201, response.text
    body: dict = response.json()
    assert body["status"] == "pending" and body["is_primary"] is False
    return body


def verify(client: TestClient, store: Store, hostname_id: str) -> httpx.Response:
    return client.post(f"{hostnames(store)}/{hostname_id}/verify", headers=store["headers"])  # type: ignore[arg-type]


def publish(dns: DnsServer, claim_body: dict) -> None:
    """Create the TXT record the claim asks for, as the domain's owner would."""
    record = claim_body["verification"]
    assert record["type"] == "TXT"
    dns.records.setdefault(record["name"], []).append(record["value"])


def storefront(client: TestClient, host: str, **headers: str) -> httpx.Response:
    return client.get(STOREFRONT, headers={"Host": host, **headers})


def no_store_signal(client: TestClient, host: str, bystander: Store) -> None:
    """``host`` names no store: alone it is not found, beside X-Store-Id it does not conflict."""
    alone = storefront(client, host)
    assert alone.status_code == 404, alone.text
    assert alone.json()["detail"] == "Store not found"
    beside = storefront(client, host, **{"X-Store-Id": str(bystander["id"])})
    assert beside.status_code == 200, beside.text
    assert beside.json()["id"] == bystander["id"]


def error_fields(response: httpx.Response) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


@pytest.fixture(scope="module")
def verified_hosts(client: TestClient, stores: Stores, dns: DnsServer) -> dict[str, tuple]:
    """Per placement: store A with a verified hostname, and store B."""
    out = {}
    for placement in PLACEMENTS:
        a, b = stores.create(placement), stores.create(placement)
        host = fresh_host()
        body = claimed(client, a, host)
        publish(dns, body)
        assert verify(client, a, body["id"]).status_code == 200
        out[placement] = (a, b, host)
    return out


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_claiming_another_stores_or_the_platforms_host_is_refused(
    client: TestClient, stores: Stores, verified_hosts: dict[str, tuple], placement: str
) -> None:
    a, b, a_host = verified_hosts[placement]
    for variant in (a_host, a_host.upper(), f"{a_host}:443", f"{a_host}."):
        taken = claim(client, b, variant)
        assert taken.status_code == 409, taken.text
        assert error_fields(taken) == ["hostname"] and str(a["id"]) not in taken.text
    for platform in (API_HOST, "API.Fleet.Example:8443", ADMIN_HOST, f"{ADMIN_HOST}."):
        refused = claim(client, b, platform)
        assert refused.status_code == 422, (platform, refused.text)
        assert error_fields(refused) == ["hostname"]
        assert "platform" in refused.json()["detail"]
    # The same refusal when the platform's host comes with a new store: no store is left.
    before = client.get("/api/stores", headers=b["headers"]).json()["total"]  # type: ignore[arg-type]
    created = client.post(
        "/api/stores",
        headers=b["headers"],  # type: ignore[arg-type]
        json={"name": "Copycat", "slug": f"cc-{unique_name('c')[-8:]}", "hostname": API_HOST},
    )
    assert created.status_code == 422 and error_fields(created) == ["hostname"], created.text
    assert client.get("/api/stores", headers=b["headers"]).json()["total"] == before  # type: ignore[arg-type]
    # B's hostnames are untouched, A still serves its own, and B can claim a name of its own.
    assert client.get(hostnames(b), headers=b["headers"]).json()["items"] == []  # type: ignore[arg-type]
    assert storefront(client, a_host).json()["id"] == a["id"]
    claimed(client, b, fresh_host())


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_subdomain_of_a_platform_host_is_refused(
    client: TestClient, stores: Stores, placement: str
) -> None:
    store = stores.create(placement)
    for name in (
        f"shop.{API_HOST}",
        f"a.b.{ADMIN_HOST}",
        f"Evil.{API_HOST.upper()}:443",
        "evil.localhost",  # localhost is the platform's too where test domains are not on
    ):
        refused = claim(client, store, name)
        assert refused.status_code == 422, (name, refused.text)
        assert error_fields(refused) == ["hostname"]
    # Only names under a platform host: a look-alike sibling is an ordinary claim.
    claimed(client, store, f"not{API_HOST}")
    claimed(client, store, f"{API_HOST}.{unique_name('x').replace('_', '-')}.com")


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_pending_hostname_routes_only_after_verification(
    client: TestClient, stores: Stores, dns: DnsServer, placement: str
) -> None:
    store, bystander = stores.create(placement), stores.create(placement)
    host = fresh_host()
    body = claimed(client, store, host)
    assert body["verification"]["name"] == f"_storefleet.{host}"
    assert body["verification"]["value"].startswith("storefleet-verify=")
    assert body["verified_at"] is None
    no_store_signal(client, host, bystander)
    # No record yet: refused, and the claim still does not route.
    missing = verify(client, store, body["id"])
    assert missing.status_code == 409, missing.text
    assert missing.json()["reason"] == "nxdomain"
    assert missing.json()["expected"] == body["verification"]["value"]
    no_store_signal(client, host, bystander)
    publish(dns, body)
    done = verify(client, store, body["id"])
    assert done.status_code == 200, done.text
    verified = done.json()
    assert verified["status"] == "verified" and verified["verified_at"] is not None
    assert verified["is_primary"] is True and verified["verification"] is None
    served = storefront(client, host)
    assert served.status_code == 200, served.text
    assert (served.json()["id"], served.json()["hostname"]) == (store["id"], host)
    conflict = storefront(client, host, **{"X-Store-Id": str(bystander["id"])})
    assert conflict.status_code == 400  # now a real signal, so a disagreement is an error


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_wrong_token_does_not_verify(
    client: TestClient, stores: Stores, dns: DnsServer, placement: str
) -> None:
    """The attacker claims the victim's domain too; the victim's record does not prove it."""
    victim, attacker = stores.create(placement), stores.create(placement)
    host = fresh_host()
    victims = claimed(client, victim, host)
    attackers = claimed(client, attacker, host)  # a pending claim reserves nothing
    assert attackers["verification"]["value"] != victims["verification"]["value"]
    publish(dns, victims)
    refused = verify(client, attacker, attackers["id"])
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["reason"] == "mismatch"
    assert problem["found"] == [victims["verification"]["value"]]
    assert problem["expected"] == attackers["verification"]["value"]
    listed = client.get(hostnames(attacker), headers=attacker["headers"]).json()["items"]  # type: ignore[arg-type]
    assert [(h["status"], h["last_error"] is not None) for h in listed] == [("pending", True)]
    no_store_signal(client, host, victim)
    # The rightful owner's proof works, and the name is then the victim's alone.
    assert verify(client, victim, victims["id"]).status_code == 200
    assert storefront(client, host).json()["id"] == victim["id"]
    publish(dns, attackers)  # even with the attacker's record added later
    late = verify(client, attacker, attackers["id"])
    assert late.status_code == 409 and late.json()["reason"] == "taken", late.text
    assert storefront(client, host).json()["id"] == victim["id"]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_store_b_cannot_verify_change_or_delete_a_hostname(
    client: TestClient, stores: Stores, dns: DnsServer, placement: str
) -> None:
    a, b = stores.create(placement), stores.create(placement)
    host = fresh_host()
    body = claimed(client, a, host)
    publish(dns, body)
    a_item = f"{hostnames(a)}/{body['id']}"
    b_item = f"{hostnames(b)}/{body['id']}"
    attempts = [
        client.post(f"{b_item}/verify", headers=b["headers"]),  # type: ignore[arg-type]
        client.patch(b_item, headers=b["headers"], json={"primary": True}),  # type: ignore[arg-type]
        client.delete(b_item, headers=b["headers"]),  # type: ignore[arg-type]
        client.post(f"{a_item}/verify", headers=b["headers"]),  # type: ignore[arg-type]
        client.delete(a_item, headers=b["headers"]),  # type: ignore[arg-type]
    ]
    for response in attempts:
        assert response.status_code == 404, (response.request.url, response.text)
        assert host not in response.text
    assert [r.json()["detail"] for r in attempts[:3]] == ["Hostname not found"] * 3
    no_store_signal(client, host, b)  # B's attempts verified nothing
    # The owner's own calls on the same ids work.
    assert verify(client, a, body["id"]).status_code == 200
    assert storefront(client, host).json()["id"] == a["id"]
    made_primary = client.patch(a_item, headers=a["headers"], json={"primary": True})  # type: ignore[arg-type]
    assert made_primary.status_code == 200 and made_primary.json()["is_primary"] is True
    assert client.delete(a_item, headers=a["headers"]).status_code == 204  # type: ignore[arg-type]
    no_store_signal(client, host, b)
