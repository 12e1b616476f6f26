"""Sign-in throttles keyed on (email, client) and on the client, and where the client comes from.

The app runs behind a "proxy" it trusts (the TestClient's own peer address, ``testclient``),
so ``X-Forwarded-For`` names the client of each request, through the same middleware
``storefleet serve --proxy-headers`` uses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.runtime import Runtime
from storefleet.testing import STRONG_PASSWORD, Accounts, Stores, make_settings, unique_name

CLIENT_LIMIT = 12
WRONG = "Wrong-Passw0rd!"
ATTACKER, VICTIM_HOME = "203.0.113.7", "198.51.100.20"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"),
        control_db,
        proxy_headers=True,
        forwarded_allow_ips="testclient",
        login_client_max_failures=CLIENT_LIMIT,
    )


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


@pytest.fixture(autouse=True)
def _fresh_login_throttle(client: TestClient) -> None:
    runtime_of(client).login_throttle.clear()


def new_email(tag: str) -> str:
    return f"{tag}-{unique_name('t').replace('_', '-')}@example.com"


@dataclass
class LoginKind:
    """One of the three sign-ins: a way to create a user and a way to sign in as one."""

    name: str
    create: Callable[[], str]  # returns the new user's email (password: STRONG_PASSWORD)
    post: Callable[[str, str, dict[str, str]], httpx.Response]

    def login(self, email: str, password: str, client: str | None = None) -> httpx.Response:
        return self.post(email, password, {"X-Forwarded-For": client} if client else {})


@pytest.fixture(scope="module")
def kinds(client: TestClient, accounts: Accounts, stores: Stores) -> dict[str, LoginKind]:
    shop = stores.create("pool")

    def account() -> str:
        return str(accounts.register()["user"]["email"])  # type: ignore[index]

    def staff() -> str:
        email = new_email("staff")
        body = {"email": email, "first_name": "S", "last_name": "T", "role": "staff"}
        made = client.post(
            f"/api/stores/{shop['id']}/staff",
            headers=shop["headers"],  # type: ignore[arg-type]
            json={**body, "password": STRONG_PASSWORD},
        )
        assert made.status_code == 201, made.text
        return email

    def customer() -> str:
        email = new_email("customer")
        made = client.post(
            "/api/storefront/customers/register",
            headers={"X-Store-Id": str(shop["id"])},
            json={"email": email, "password": STRONG_PASSWORD, "first_name": "C", "last_name": "D"},
        )
        assert made.status_code == 201, made.text
        return email

    def account_login(email: str, password: str, headers: dict[str, str]) -> httpx.Response:
        body = {"email": email, "password": password}
        return client.post("/api/auth/login", json=body, headers=headers)

    def staff_login(email: str, password: str, headers: dict[str, str]) -> httpx.Response:
        body = {"store_id": shop["id"], "email": email, "password": password}
        return client.post("/api/auth/staff/login", json=body, headers=headers)

    def customer_login(email: str, password: str, headers: dict[str, str]) -> httpx.Response:
        return client.post(
            "/api/storefront/customers/login",
            json={"email": email, "password": password},
            headers={"X-Store-Id": str(shop["id"]), **headers},
        )

    return {
        "account": LoginKind("account", account, account_login),
        "staff": LoginKind("staff", staff, staff_login),
        "customer": LoginKind("customer", customer, customer_login),
    }


KINDS = ("account", "staff", "customer")


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest, kinds: dict[str, LoginKind]) -> LoginKind:
    return kinds[request.param]


def statuses(responses: list[httpx.Response]) -> list[int]:
    return [r.status_code for r in responses]


def test_a_stranger_failing_for_an_email_does_not_lock_its_owner_out(kind: LoginKind) -> None:
    victim = kind.create()
    failures = [kind.login(victim, WRONG, ATTACKER) for _ in range(5)]
    assert statuses(failures) == [401] * 5
    # The attacker is refused for this email, even with the right password ...
    blocked = kind.login(victim, STRONG_PASSWORD, ATTACKER)
    assert blocked.status_code == 429, blocked.text
    assert int(blocked.headers["retry-after"]) >= 1
    assert kind.login(victim, WRONG, ATTACKER).status_code == 429
    # The victim, from elsewhere, is not: a mistyped password is a 401, the right one works.
    assert kind.login(victim, WRONG, VICTIM_HOME).status_code == 401
    signed_in = kind.login(victim, STRONG_PASSWORD, VICTIM_HOME)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["token"]


def test_one_client_guessing_many_emails_hits_the_client_limit(kind: LoginKind) -> None:
    victim = kind.create()
    guesses = [kind.login(new_email("guess"), WRONG, ATTACKER) for _ in range(CLIENT_LIMIT)]
    assert statuses(guesses) == [401] * CLIENT_LIMIT  # never more than once per email
    # The client is now refused for every email, one it never tried included.
    blocked = kind.login(victim, STRONG_PASSWORD, ATTACKER)
    assert blocked.status_code == 429, blocked.text
    assert "try again" in blocked.json()["detail"].lower()
    assert kind.login(victim, STRONG_PASSWORD, VICTIM_HOME).status_code == 200


def test_the_client_limit_counts_every_login_kind(kinds: dict[str, LoginKind]) -> None:
    per_kind = CLIENT_LIMIT // len(KINDS)
    for name in KINDS:
        tries = [kinds[name].login(new_email("mix"), WRONG, ATTACKER) for _ in range(per_kind)]
        assert statuses(tries) == [401] * per_kind
    for name in KINDS:
        assert kinds[name].login(new_email("mix"), WRONG, ATTACKER).status_code == 429


def test_ipv6_clients_count_by_their_64(kinds: dict[str, LoginKind]) -> None:
    kind = kinds["account"]
    victim = kind.create()
    for i in range(5):
        assert kind.login(victim, WRONG, f"2001:db8:1:2::{i + 1:x}").status_code == 401
    assert kind.login(victim, STRONG_PASSWORD, "2001:db8:1:2:ffff::9").status_code == 429
    assert kind.login(victim, STRONG_PASSWORD, "2001:db8:1:3::1").status_code == 200


@contextmanager
def app_client(settings: Settings, control_db: URL, **overrides: Any) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update=overrides), control_db)
    with TestClient(app, raise_server_exceptions=False) as c:
        # The counters live in the control plane, shared with every other app on it.
        runtime_of(c).login_throttle.clear()
        yield c


def _failing_then_elsewhere(
    client: TestClient, email: str, failing: list[dict[str, str]], elsewhere: dict[str, str]
) -> int:
    for headers in failing:
        body = {"email": email, "password": WRONG}
        assert client.post("/api/auth/login", json=body, headers=headers).status_code == 401
    body = {"email": email, "password": STRONG_PASSWORD}
    return client.post("/api/auth/login", json=body, headers=elsewhere).status_code


def test_forwarded_headers_are_ignored_unless_the_proxy_is_trusted(
    settings: Settings, control_db: URL, accounts: Accounts
) -> None:
    forged = [{"X-Forwarded-For": f"192.0.2.{i}"} for i in range(1, 6)]
    elsewhere = {"X-Forwarded-For": VICTIM_HOME}
    victim = str(accounts.register()["user"]["email"])  # type: ignore[index]
    # Default settings: the peer is the client, whatever the request claims.
    with app_client(settings, control_db, proxy_headers=False) as plain:
        assert _failing_then_elsewhere(plain, victim, forged, elsewhere) == 429
    # Proxy headers on, but this peer is not a trusted proxy: the same.
    victim = str(accounts.register()["user"]["email"])  # type: ignore[index]
    with app_client(settings, control_db, forwarded_allow_ips="10.9.8.7") as untrusted:
        assert _failing_then_elsewhere(untrusted, victim, forged, elsewhere) == 429
    # RFC 7239 Forwarded is never read: it cannot move a client anywhere.
    victim = str(accounts.register()["user"]["email"])  # type: ignore[index]
    with app_client(settings, control_db) as trusted:
        fake = [{"Forwarded": f"for=192.0.2.{i}"} for i in range(1, 6)]
        assert _failing_then_elsewhere(trusted, victim, fake, {"Forwarded": "for=1.2.3.4"}) == 429
        # The positive control: the trusted proxy's X-Forwarded-For does move it.
        victim = str(accounts.register()["user"]["email"])  # type: ignore[index]
        same = [{"X-Forwarded-For": ATTACKER}] * 5
        assert _failing_then_elsewhere(trusted, victim, same, elsewhere) == 200


def test_the_proxy_address_list_takes_networks_and_the_rightmost_untrusted_hop(
    settings: Settings, control_db: URL, accounts: Accounts
) -> None:
    """A client prepending its own X-Forwarded-For entry does not choose its address."""
    victim = str(accounts.register()["user"]["email"])  # type: ignore[index]
    chain = [{"X-Forwarded-For": f"192.0.2.{i}, {ATTACKER}"} for i in range(1, 6)]
    with app_client(settings, control_db) as c:
        assert _failing_then_elsewhere(c, victim, chain, {"X-Forwarded-For": ATTACKER}) == 429
    victim = str(accounts.register()["user"]["email"])  # type: ignore[index]
    hops = [{"X-Forwarded-For": f"{ATTACKER}, 10.0.0.{i}"} for i in range(1, 6)]
    with app_client(settings, control_db, forwarded_allow_ips="testclient, 10.0.0.0/8") as c:
        assert _failing_then_elsewhere(c, victim, hops, {"X-Forwarded-For": VICTIM_HOME}) == 200
        body = {"email": victim, "password": STRONG_PASSWORD}
        again = c.post("/api/auth/login", json=body, headers={"X-Forwarded-For": ATTACKER})
        assert again.status_code == 429


def test_client_key_is_one_per_address_or_64() -> None:
    from storefleet.security.throttle import client_key

    assert client_key("203.0.113.7") == "203.0.113.7"
    assert client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert (
        client_key("2001:db8:1:2:aaaa::1") == client_key("2001:db8:1:2::2") == "2001:db8:1:2::/64"
    )
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key(None) == client_key("") == "unknown"
    assert client_key("testclient") == "testclient"
