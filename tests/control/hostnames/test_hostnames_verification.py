"""The DNS check behind hostname verification, against a real DNS server on localhost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from storefleet.config import Settings
from storefleet.control.hostnames.verification import (
    DnsVerifier,
    Proof,
    is_test_domain,
    record_name,
    record_value,
)
from tests.dnsserver import DnsServer, dns_server

HOST = "shop.customer-domain.com"
TOKEN = "tok-123_abc"
EXPECTED = record_value(TOKEN)


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with dns_server() as server:
        yield server


def check(server: DnsServer, hostname: str = HOST, *, timeout: float = 2.0) -> Proof:
    verifier = DnsVerifier(["127.0.0.1"], port=server.port, timeout=timeout)
    return asyncio.run(verifier.check(hostname, TOKEN))


def test_right_value_among_several_records(dns: DnsServer) -> None:
    dns.records[record_name(HOST)] = ["v=spf1 -all", "storefleet-verify=someone-else", EXPECTED]
    proof = check(dns)
    assert proof.ok and proof.outcome == "verified"
    assert proof.record_name == f"_storefleet.{HOST}" and proof.expected == EXPECTED
    assert dns.queries[-1] == f"_storefleet.{HOST}"


def test_value_split_into_character_strings_is_joined(dns: DnsServer) -> None:
    name = "split.customer-domain.com"
    half = len(EXPECTED) // 2
    dns.records[record_name(name)] = [f'{EXPECTED[:half]}" "{EXPECTED[half:]}']
    assert check(dns, name).ok


def test_nxdomain_says_what_to_create(dns: DnsServer) -> None:
    proof = check(dns, "nowhere.customer-domain.com")
    assert proof.outcome == "nxdomain" and not proof.ok
    assert proof.found == ()
    assert "_storefleet.nowhere.customer-domain.com" in proof.detail
    assert EXPECTED in proof.detail


def test_name_without_txt_record(dns: DnsServer) -> None:
    dns.records[record_name("empty.customer-domain.com")] = []
    proof = check(dns, "empty.customer-domain.com")
    assert proof.outcome == "no-record"
    assert EXPECTED in proof.detail


def test_wrong_value_reports_what_was_found(dns: DnsServer) -> None:
    name = "wrong.customer-domain.com"
    dns.records[record_name(name)] = ["storefleet-verify=not-the-token", TOKEN]
    proof = check(dns, name)
    assert proof.outcome == "mismatch" and not proof.ok
    assert proof.found == ("storefleet-verify=not-the-token", TOKEN)  # sorted
    assert "storefleet-verify=not-the-token" in proof.detail and EXPECTED in proof.detail


def test_silent_server_times_out_with_a_clear_outcome(dns: DnsServer) -> None:
    name = "slow.customer-domain.com"
    dns.silent.add(record_name(name))
    started = time.monotonic()
    proof = check(dns, name, timeout=0.5)
    assert proof.outcome == "timeout"
    assert time.monotonic() - started < 3
    assert "timed out" in proof.detail and record_name(name) in proof.detail


def test_no_server_listening_is_a_dns_error_not_an_exception() -> None:
    with dns_server() as gone:
        port = gone.port
    verifier = DnsVerifier(["127.0.0.1"], port=port, timeout=0.5)
    proof = asyncio.run(verifier.check(HOST, TOKEN))
    assert proof.outcome in {"timeout", "dns-error"} and not proof.ok


def test_settings_point_the_verifier_at_the_server(dns: DnsServer) -> None:
    dns.records[record_name("cfg.customer-domain.com")] = [EXPECTED]
    settings = Settings(
        hostname_dns_nameservers=["127.0.0.1"],
        hostname_dns_port=dns.port,
        hostname_dns_timeout_seconds=1.5,
    )
    verifier = DnsVerifier.from_settings(settings)
    assert (verifier.nameservers, verifier.port, verifier.timeout) == (["127.0.0.1"], dns.port, 1.5)
    assert asyncio.run(verifier.check("cfg.customer-domain.com", TOKEN)).ok


def test_test_domains() -> None:
    for name in ("shop.localhost", "a.shop.example", "x.test", "y.invalid", "s.example.com"):
        assert is_test_domain(name), name
    for name in ("shop.com", "example.co", "notexample.com", "localhost.com", "a.testing"):
        assert not is_test_domain(name), name


def test_platform_hosts_and_test_switch_follow_settings() -> None:
    prod = Settings(
        environment="production",
        public_base_url="https://api.storefleet.io",
        platform_hostnames=["Admin.Storefleet.IO."],
    )
    assert prod.test_domains_verified is False
    assert {"api.storefleet.io", "admin.storefleet.io", "localhost", "127.0.0.1"} <= set(
        prod.reserved_hostnames
    )
    dev = Settings(environment="development")
    assert dev.test_domains_verified is True
    # *.localhost is the demo namespace where test domains verify at once.
    assert "localhost" not in dev.reserved_hostnames
    assert "127.0.0.1" in dev.reserved_hostnames
    forced = Settings(environment="test", hostname_test_domains_verified=False)
    assert forced.test_domains_verified is False and "localhost" in forced.reserved_hostnames
