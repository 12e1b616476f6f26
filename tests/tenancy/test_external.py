"""The checks behind "connect your own database": URL shape and address rules."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest
from sqlalchemy.engine import URL

from storefleet.db.foreign import is_behind_pooler
from storefleet.tenancy.external import (
    ExternalDatabaseError,
    check_host_allowed,
    validate_url_shape,
)
from tests.tenancy.external_checks import (
    PASSWORD,
    SUPAVISOR_HOST,
    inspect,
    refused,
    remote,
    run,
)


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    """Answer getaddrinfo from a table, so no test depends on the network."""

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        out = []
        for address in answers[host]:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port, 0, 0) if ":" in address else (address, port)
            out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


# --- URL shape -------------------------------------------------------------------------

INTERNAL = [
    ("127.0.0.1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.10", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.7", "carrier-grade"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("[::1]", "loopback"),
    ("[fe80::1]", "link-local"),
    ("[fd12:3456::1]", "private"),
    ("[::ffff:10.0.0.1]", "private"),
    ("[::ffff:127.0.0.1]", "loopback"),
    ("[64:ff9b::a9fe:a9fe]", "link-local"),
    ("[2002:a00:1::]", "private"),
    ("203.0.113.10", "non-public"),
]


@pytest.mark.parametrize(("host", "kind"), INTERNAL)
def test_internal_addresses_are_refused(host: str, kind: str) -> None:
    err = refused(remote(host))
    assert kind in err.detail
    assert "internal networks is not allowed" in err.detail
    assert f"({ipaddress.ip_address(host.strip('[]'))}" in err.detail


def test_ipv4_mapped_address_names_the_ipv4_inside() -> None:
    assert "(::ffff:a00:1, which is 10.0.0.1)" in refused(remote("[::ffff:10.0.0.1]")).detail


@pytest.mark.parametrize(("host", "kind"), INTERNAL)
def test_internal_addresses_are_accepted_when_allowed(host: str, kind: str) -> None:
    url = validate_url_shape(remote(host, "?sslmode=disable"), allow_private=True)
    assert url.host == host.strip("[]")
    assert url.query["sslmode"] == "disable"  # local hosts allowed by setting keep their mode


def test_private_message_names_the_address() -> None:
    err = refused(remote("10.1.2.3"))
    assert "private address (10.1.2.3)" in err.detail


def test_public_literal_ip_gets_tls_by_default() -> None:
    url = validate_url_shape(remote("8.8.8.8"), allow_private=False)
    assert url.host == "8.8.8.8"
    assert url.query["sslmode"] == "require"
    assert url.drivername == "postgresql+psycopg"
    assert url.password == PASSWORD


def test_remote_name_gets_tls_by_default_and_keeps_stricter_modes() -> None:
    assert validate_url_shape(remote(), allow_private=False).query["sslmode"] == "require"
    strict = validate_url_shape(remote(query="?sslmode=verify-full"), allow_private=False)
    assert strict.query["sslmode"] == "verify-full"


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer"])
def test_weak_sslmode_is_refused_for_remote_hosts(mode: str) -> None:
    err = refused(remote(query=f"?sslmode={mode}"))
    assert f"sslmode={mode}" in err.detail
    assert "TLS" in err.detail


def test_weak_sslmode_refused_for_public_ip_even_when_private_allowed() -> None:
    refused(remote("8.8.8.8", "?sslmode=disable"), allow_private=True)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "http://x",
        "mysql://u:p@db.example.com/app",
        "postgresql://",
        "postgresql://u:p@db.example.com",
        "postgresql://u:p@db.example.com/",
        "postgresql://db.example.com/app",
        f"postgresql://:{PASSWORD}@db.example.com/app",
        "postgresql://u@db.example.com:99999/app",
        "postgresql://u@db.example.com:notaport/app",
        f"postgresql://u:{PASSWORD}@db.example.com/app?x=" + "a" * 5000,
    ],
)
def test_malformed_urls_are_refused(raw: str) -> None:
    refused(raw)


def test_long_url_says_it_is_too_long() -> None:
    assert "too long" in refused("postgresql://u@h/d?x=" + "a" * 5000).detail


def test_unencoded_at_in_password_is_explained_without_echoing_it() -> None:
    err = refused(f"postgresql://postgres:{PASSWORD}@x@db.example.com:5432/postgres")
    assert "%40" in err.detail


def test_multiple_hosts_are_refused() -> None:
    refused("postgresql://u:p@db.example.com,10.0.0.1/app")


@pytest.mark.parametrize(
    "query",
    ["?host=/var/run/postgresql", "?host=10.0.0.1", "?hostaddr=10.0.0.1", "?host=a&host=b"],
)
def test_host_overrides_in_query_are_refused(query: str) -> None:
    assert "query string" in refused(remote(query=query)).detail


@pytest.mark.parametrize("param", ["service=prod", "passfile=/etc/passwd", "sslkey=/x.key"])
def test_unknown_libpq_options_are_refused(param: str) -> None:
    err = refused(remote(query=f"?{param}"))
    assert param.split("=")[0] in err.detail


def test_unix_socket_needs_allow_private() -> None:
    raw = "postgresql://postgres:pw@/postgres?host=/var/run/postgresql"
    refused(raw)
    url = validate_url_shape(raw, allow_private=True)
    assert url.host is None
    assert url.query["host"] == "/var/run/postgresql"


def test_prisma_parameters_are_dropped() -> None:
    url = validate_url_shape(
        remote(SUPAVISOR_HOST, "?pgbouncer=true&connection_limit=1", port=6543),
        allow_private=False,
    )
    assert dict(url.query) == {"sslmode": "require"}
    assert is_behind_pooler(url)


def test_pooler_detection() -> None:
    assert is_behind_pooler(URL.create("postgresql", host="db.example.com", port=6543))
    assert is_behind_pooler(URL.create("postgresql", host=SUPAVISOR_HOST, port=5432))
    assert not is_behind_pooler(URL.create("postgresql", host="db.example.com", port=5432))
    assert not is_behind_pooler(URL.create("postgresql", host="db.example.com"))


# --- name resolution -------------------------------------------------------------------


def test_name_resolving_to_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"db.example.com": ["10.1.2.3"]})
    url = validate_url_shape(remote(), allow_private=False)
    with pytest.raises(ExternalDatabaseError) as info:
        run(check_host_allowed, url, allow_private=False)
    assert info.value.field == "database_url"
    assert "db.example.com resolves to a private address (10.1.2.3)" in info.value.detail
    assert "internal networks is not allowed" in info.value.detail


def test_one_internal_address_among_public_ones_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, {"db.example.com": ["8.8.8.8", "::ffff:169.254.169.254"]})
    url = validate_url_shape(remote(), allow_private=False)
    with pytest.raises(ExternalDatabaseError, match="link-local"):
        run(check_host_allowed, url, allow_private=False)


def test_public_name_is_pinned_to_checked_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"db.example.com": ["8.8.8.8", "2001:4860:4860::8888", "8.8.8.8"]})
    url = validate_url_shape(remote(), allow_private=False)
    target = run(check_host_allowed, url, allow_private=False)
    assert target.addresses == ("8.8.8.8", "2001:4860:4860::8888")
    assert target.url.query["sslmode"] == "require"


def test_private_name_allowed_by_setting_keeps_sslmode(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"db.internal": ["10.1.2.3"], "db.example.com": ["8.8.8.8"]})
    url = validate_url_shape(remote("db.internal", "?sslmode=disable"), allow_private=True)
    target = run(check_host_allowed, url, allow_private=True)
    assert target.addresses == ("10.1.2.3",)
    assert target.url.query["sslmode"] == "disable"
    # A name that reaches out to the internet still needs TLS, even in development.
    public = validate_url_shape(remote("db.example.com"), allow_private=True)
    assert run(check_host_allowed, public, allow_private=True).url.query["sslmode"] == "require"
    weak = validate_url_shape(remote("db.example.com", "?sslmode=disable"), allow_private=True)
    with pytest.raises(ExternalDatabaseError, match="TLS"):
        run(check_host_allowed, weak, allow_private=True)


def test_unknown_name_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {})
    url = validate_url_shape(remote("nope.example.com"), allow_private=False)
    with pytest.raises(ExternalDatabaseError, match="could not be found"):
        run(check_host_allowed, url, allow_private=False)


def test_localhost_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"localhost": ["127.0.0.1", "::1"]})
    with pytest.raises(ExternalDatabaseError) as info:
        inspect(remote("localhost"), allow_private=False)
    err = info.value
    assert "loopback" in err.detail
    assert PASSWORD not in err.detail
