"""The checks behind "connect your own database": connect errors explained, real connections."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL

from storefleet.tenancy.external import ExternalDatabaseError, validate_url_shape
from storefleet.tenancy.inspection import (
    MIN_SERVER_VERSION,
    ExternalDatabaseReport,
    explain_connect_error,
)
from storefleet.testing import admin_execute, drop_database, unique_name
from tests.tenancy.external_checks import (
    PASSWORD,
    SUPAVISOR_HOST,
    inspect,
    remote,
)


def url_text(url: URL) -> str:
    """The URL as an owner pastes it: with a password (the test server trusts it anyway)."""
    return url.set(password=url.password or "trusted").render_as_string(hide_password=False)


# --- error messages --------------------------------------------------------------------

CONNECT_ERRORS = [
    (
        'connection failed: connection to server at "3.64.1.1", port 6543 failed: '
        "FATAL:  Tenant or user not found",
        "postgres.<project-ref>",
    ),
    (
        'connection failed: connection to server at "3.64.1.1", port 5432 failed: '
        'FATAL:  password authentication failed for user "postgres"',
        "password",
    ),
    (
        'connection failed: connection to server at "127.0.0.1", port 1 failed: '
        "Connection refused\n\tIs the server running on that host and accepting TCP/IP?",
        "could not connect to",
    ),
    ("connection timeout expired", "could not connect to"),
    (
        'connection failed: connection to server at "3.64.1.1", port 5432 failed: '
        'FATAL:  database "shop" does not exist',
        "does not exist",
    ),
    (
        'connection failed: connection to server at "3.64.1.1", port 5432 failed: '
        "server does not support SSL, but SSL was required",
        "TLS",
    ),
    (
        'connection failed: connection to server at "3.64.1.1", port 5432 failed: '
        'FATAL:  no pg_hba.conf entry for host "1.2.3.4", user "x", database "y", no encryption',
        "pg_hba.conf",
    ),
    (
        'connection failed: connection to server at "2a05::1", port 5432 failed: '
        "Network is unreachable",
        "pooler connection string",
    ),
    (f"FATAL:  something odd happened near {PASSWORD}\nDETAIL: more", "something odd"),
]


@pytest.mark.parametrize(("message", "expected"), CONNECT_ERRORS)
def test_connect_errors_are_explained(message: str, expected: str) -> None:
    url = validate_url_shape(remote(SUPAVISOR_HOST, port=6543), allow_private=False)
    text = explain_connect_error(psycopg.OperationalError(message), url)
    assert expected.lower() in text.lower()
    assert PASSWORD not in text
    assert "DETAIL" not in text


def test_supavisor_tenant_not_found_hint() -> None:
    url = validate_url_shape(remote(SUPAVISOR_HOST, port=6543), allow_private=False)
    text = explain_connect_error(
        psycopg.OperationalError("... FATAL:  Tenant or user not found"), url
    )
    assert "pooler host for your region" in text
    assert "postgres.<project-ref>" in text
    assert "Supabase project reference" in text


def test_unknown_error_shows_first_line_without_password() -> None:
    url = validate_url_shape(remote(), allow_private=False)
    exc = psycopg.OperationalError(f"weird failure for {PASSWORD}\nsecond line")
    text = explain_connect_error(exc, url)
    assert text.startswith("Could not connect to the database: weird failure")
    assert "second line" not in text
    assert PASSWORD not in text


# --- real connections ------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_closed_port_is_reported_as_unreachable() -> None:
    raw = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{closed_port()}/postgres"
    with pytest.raises(ExternalDatabaseError) as info:
        inspect(raw, allow_private=True)
    assert "could not connect to 127.0.0.1:" in info.value.detail.lower()
    assert PASSWORD not in info.value.detail
    assert info.value.field == "database_url"


def test_connection_goes_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name is resolved once, by the check, and libpq uses that answer."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "db.rebind.test":
            lookups.append(host)
            if len(lookups) > 1:
                raise socket.gaierror(socket.EAI_NONAME, "second lookup")
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    port = closed_port()
    raw = f"postgresql://postgres:{PASSWORD}@db.rebind.test:{port}/postgres"
    with pytest.raises(ExternalDatabaseError) as info:
        inspect(raw, allow_private=True)
    assert lookups == ["db.rebind.test"]
    assert f"could not connect to db.rebind.test:{port}" in info.value.detail.lower()


def test_private_target_refused_before_connecting() -> None:
    raw = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{closed_port()}/postgres"
    with pytest.raises(ExternalDatabaseError, match="loopback"):
        inspect(raw, allow_private=False)


def test_test_server_reports_superuser_and_dedicated_role(pg_server: URL) -> None:
    report = inspect(url_text(pg_server), allow_private=True)
    assert isinstance(report, ExternalDatabaseReport)
    assert report.server_version >= MIN_SERVER_VERSION
    assert report.server_version_text.split(".")[0] == str(report.server_version // 10000)
    assert report.user == pg_server.username
    assert report.database == pg_server.database
    assert report.is_superuser
    assert report.can_create_role
    assert report.can_create_schema
    assert report.isolation == "dedicated_role"
    assert "row-level security" in report.isolation_note
    assert not report.behind_pooler


def test_test_server_needs_allow_private(pg_server: URL) -> None:
    with pytest.raises(ExternalDatabaseError):
        inspect(url_text(pg_server), allow_private=False)


@pytest.fixture
def limited_role(pg_server: URL) -> Iterator[tuple[URL, str]]:
    """A login role without CREATEROLE and a fresh database it does not own."""
    role = unique_name("sf_ext")
    database = unique_name("sf_ext_db")
    admin_execute(pg_server, sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    admin_execute(pg_server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        yield pg_server.set(username=role, password="trusted", database=database), database
    finally:
        drop_database(pg_server, database)
        admin_execute(pg_server, sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_limited_role_without_create_is_refused(
    pg_server: URL, limited_role: tuple[URL, str]
) -> None:
    url, database = limited_role
    with pytest.raises(ExternalDatabaseError) as info:
        inspect(url_text(url), allow_private=True)
    assert "CREATE" in info.value.detail
    assert database in info.value.detail


def test_limited_role_with_create_gets_owner_role(
    pg_server: URL, limited_role: tuple[URL, str]
) -> None:
    url, database = limited_role
    admin_execute(
        pg_server,
        sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(url.username or "")
        ),
    )
    report = inspect(url_text(url), allow_private=True)
    assert report.user == url.username
    assert report.database == database
    assert report.can_create_schema
    assert not report.can_create_role
    assert not report.is_superuser
    assert not report.bypass_rls
    assert report.isolation == "owner_role"
    assert "CREATEROLE" in report.isolation_note
