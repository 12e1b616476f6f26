"""Store A's owner, staff and storefront against store B, through every tenancy route.

In each placement, A and B have different owners, an admin staff member each and a hostname
each. Every attempt must answer exactly like a missing store (404 with the same body as a
random id), a conflict (400), a refused token (401) or a taken name (409) — and afterwards
B must read back exactly as it did before. Each refused route is then called by the owner
of a store of A's account on that store's own rows, and works (the positive control). Tests
run in file order; the move comes last.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.testing import PLACEMENTS, Stores
from tests.isolation.attack import (
    STAFF_PASSWORD,
    STOREFRONT,
    Pair,
    Side,
    add_staff,
    allowed,
    check,
    make_side,
    random_id,
    refused_then_allowed,
    send,
    snapshot,
    staff_login,
    store_routes,
    with_store_id,
)
from tests.tenancy.test_connect_database import ExternalDb

OTHER_PLACEMENT = {"pool": "schema", "schema": "pool", "database": "pool"}


@pytest.fixture(scope="module")
def pairs(client: TestClient, stores: Stores) -> dict[str, Pair]:
    return {
        p: Pair(make_side(client, stores, p, "alpha"), make_side(client, stores, p, "bravo"))
        for p in PLACEMENTS
    }


@pytest.fixture(scope="module")
def before(client: TestClient, pairs: dict[str, Pair]) -> dict[str, dict]:
    """B as its owner sees it before any attack."""
    return {p: snapshot(client, pair.b) for p, pair in pairs.items()}


@pytest.fixture(params=PLACEMENTS)
def pair(request: pytest.FixtureRequest, pairs: dict[str, Pair]) -> Pair:
    return pairs[request.param]


@pytest.fixture
def spare(
    client: TestClient, stores: Stores, pair: Pair, pg_server: URL
) -> Iterator[tuple[Side, str]]:
    """A store of A's account, and a database for it to connect: for positive controls."""
    database = ExternalDb(pg_server)
    yield make_side(client, stores, pair.a.placement, "spare", pair.a.account), database.url()
    database.drop()


@pytest.fixture(autouse=True)
def _fresh_login_throttle(client: TestClient) -> None:
    client.app.state.runtime.login_throttle.clear()  # type: ignore[attr-defined]


def no_trace_of(victim: Side, responses: Iterable[httpx.Response]) -> None:
    for response in responses:
        for secret in (victim.name, victim.slug, victim.staff_email, victim.hostname):
            assert secret not in response.text, (response.url, secret, response.text)


def storefront(client: TestClient, host: str | None = None, **headers: str) -> httpx.Response:
    if host is not None:
        headers["host"] = host
    return client.get(STOREFRONT, headers=headers)


def routes_to(client: TestClient, side: Side) -> None:
    """The side's hostname still serves the side's own public profile."""
    body = check(storefront(client, side.hostname), 200)
    assert body["name"] == side.name and body["slug"] == side.slug


def b_is_untouched(client: TestClient, pair: Pair, before: dict[str, dict]) -> None:
    after = snapshot(client, pair.b)
    assert after == before[pair.b.placement]
    assert after["store"]["placement"] == pair.b.placement
    assert after["store"]["status"] != "deleted"
    active = {u["id"] for u in after["staff"]["items"] if u["is_active"]}
    assert pair.b.staff_id in active
    check(client.get(f"{pair.b.base}/profile", headers=pair.b.staff), 200)
    routes_to(client, pair.b)


def attack_every_route(
    client: TestClient,
    pair: Pair,
    headers: dict[str, str],
    spare: tuple[Side, str],
    *,
    staff: bool = False,
) -> None:
    """Each B route answers 404 with the body a random store id gets.

    The one exception: ``GET /api/stores/{id}`` is for platform accounts only, so a staff
    token gets the same 401 there for every store id, its own included. Then A's owner runs
    every route on a spare store of A's account: moved, connected to a database of its own,
    its hostname and staff member removed, and deleted last.
    """
    other = OTHER_PLACEMENT[pair.b.placement]
    on_b = store_routes(pair.b.id, pair.b, other)
    on_nothing = store_routes(random_id(), pair.b, other)
    for (method, path, body), (_, missing_path, missing_body) in zip(on_b, on_nothing, strict=True):
        response = send(client, method, path, body, headers)
        missing = send(client, method, missing_path, missing_body, headers)
        expected, detail = 404, "Store not found"
        if staff and (method, path) == ("GET", pair.b.base):
            expected, detail = 401, "Token is not a platform account token"
            own = client.get(pair.a.base, headers=headers)
            assert (own.status_code, own.json()) == (401, response.json())
        assert response.status_code == expected, (method, path, response.text)
        assert missing.status_code == expected, (method, missing_path, missing.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json() == missing.json(), (method, path)
        assert response.json()["detail"] == detail
        pair.seen.append(response)
    no_trace_of(pair.b, pair.seen)
    store, database_url = spare
    controls = store_routes(store.id, store, other, database_url)
    allowed(client, controls, store.owner, like=on_b)
    assert check(client.get(store.base, headers=store.owner), 404)["detail"] == "Store not found"


def test_a_owner_gets_404_on_every_route_of_b(
    client: TestClient, pair: Pair, before: dict[str, dict], spare: tuple[Side, str]
) -> None:
    attack_every_route(client, pair, pair.a.owner, spare)
    listed = check(client.get("/api/stores", headers=pair.a.owner), 200)
    assert pair.b.id not in {s["id"] for s in listed["items"]}
    assert pair.a.id in {s["id"] for s in listed["items"]}
    pair.seen.append(client.get("/api/stores", headers=pair.a.owner))
    no_trace_of(pair.b, pair.seen)
    b_is_untouched(client, pair, before)


def test_a_staff_gets_404_on_every_route_of_b(
    client: TestClient, pair: Pair, before: dict[str, dict], spare: tuple[Side, str]
) -> None:
    # The staff token works on A: the 404s below are about B, not a dead token.
    assert check(client.get(f"{pair.a.base}/profile", headers=pair.a.staff), 200)["name"] == (
        pair.a.name
    )
    attack_every_route(client, pair, pair.a.staff, spare, staff=True)
    # Staff tokens are not platform accounts: no store list at all.
    listed = client.get("/api/stores", headers=pair.a.staff)
    assert listed.status_code == 401, listed.text
    pair.seen.append(listed)
    no_trace_of(pair.b, pair.seen)
    b_is_untouched(client, pair, before)


def test_token_with_b_store_id_edited_in_is_refused(
    client: TestClient, pair: Pair, before: dict[str, dict]
) -> None:
    forged = with_store_id(pair.a.staff, pair.b.id)
    assert forged != pair.a.staff
    responses = [
        send(client, method, path, body, forged)
        for method, path, body in store_routes(pair.b.id, pair.b, OTHER_PLACEMENT[pair.b.placement])
    ]
    responses.append(storefront(client, **forged))
    responses.append(storefront(client, pair.b.hostname, **forged))
    responses.append(client.post("/api/auth/staff/logout", headers=forged))
    # An owner token (no store_id claim) with B's store id added fares no better.
    forged_owner = with_store_id(pair.a.owner, pair.b.id)
    responses.append(client.get(f"{pair.b.base}/profile", headers=forged_owner))
    responses.append(client.get("/api/stores", headers=forged_owner))
    for response in responses:
        assert response.status_code == 401, (response.url, response.text)
        assert response.json()["detail"] == "Invalid token", response.text
        assert response.headers["www-authenticate"] == "Bearer"
    pair.seen.extend(responses)
    no_trace_of(pair.b, pair.seen)
    b_is_untouched(client, pair, before)


def test_a_staff_credentials_do_not_sign_in_to_b(
    client: TestClient, pair: Pair, before: dict[str, dict]
) -> None:
    def login(store: Side, email: str, password: str = STAFF_PASSWORD) -> httpx.Response:
        body = {"store_id": store.id, "email": email, "password": password}
        return client.post("/api/auth/staff/login", json=body)

    wrong_password = login(pair.b, pair.b.staff_email, "Wrong-Passw0rd!x")
    assert wrong_password.status_code == 401
    for response in (
        login(pair.b, pair.a.staff_email),
        login(pair.a, pair.b.staff_email),
        login(pair.b, pair.a.owner_email, pair.a.owner_password),
        login(pair.a, pair.a.owner_email, pair.a.owner_password),
    ):
        assert response.status_code == 401, response.text
        assert response.json() == wrong_password.json()
        pair.seen.append(response)
    no_trace_of(pair.b, pair.seen)
    b_is_untouched(client, pair, before)


def test_a_staff_logout_leaves_b_signed_in(
    client: TestClient, pair: Pair, before: dict[str, dict]
) -> None:
    extra = staff_login(client, pair.a.id, pair.a.staff_email)
    assert client.post("/api/auth/staff/logout", headers=extra).status_code == 204
    refused = client.get(f"{pair.a.base}/profile", headers=extra)
    assert refused.status_code == 401, refused.text
    # Only that one token ended: A's other token and B's staff token still work.
    check(client.get(f"{pair.a.base}/profile", headers=pair.a.staff), 200)
    assert check(client.get(f"{pair.b.base}/profile", headers=pair.b.staff), 200)["name"] == (
        pair.b.name
    )
    b_is_untouched(client, pair, before)


def test_a_owner_cannot_delete_b_hostname_through_a_path(
    client: TestClient, pair: Pair, before: dict[str, dict]
) -> None:
    path = f"{pair.a.base}/hostnames"
    spare = check(
        client.post(path, headers=pair.a.owner, json={"hostname": f"{random_id()}.shop.example"}),
        201,
    )
    [response] = refused_then_allowed(
        client,
        [("DELETE", f"{path}/{pair.b.hostname_id}", None)],
        pair.a.owner,
        [("DELETE", f"{path}/{spare['id']}", None)],
        pair.a.owner,
    )
    missing = client.delete(f"{path}/{random_id()}", headers=pair.a.owner)
    assert response.status_code == missing.status_code == 404, response.text
    assert response.json() == missing.json()
    assert response.json()["detail"] == "Hostname not found"
    pair.seen.append(response)
    # A's own list never shows B's hostname.
    own = check(client.get(path, headers=pair.a.owner), 200)
    assert [h["hostname"] for h in own["items"]] == [pair.a.hostname]
    no_trace_of(pair.b, pair.seen)
    b_is_untouched(client, pair, before)


def test_a_cannot_remove_b_staff_through_a_path(
    client: TestClient, pair: Pair, before: dict[str, dict]
) -> None:
    path = f"{pair.a.base}/staff"
    for who in (pair.a.staff, pair.a.owner):
        spare = add_staff(client, pair.a.base, pair.a.owner, f"{random_id()}@example.com", "staff")
        [response] = refused_then_allowed(
            client,
            [("DELETE", f"{path}/{pair.b.staff_id}", None)],
            who,
            [("DELETE", f"{path}/{spare['id']}", None)],
            who,
        )
        missing = client.delete(f"{path}/{random_id()}", headers=who)
        assert response.status_code == missing.status_code == 404, response.text
        assert response.json() == missing.json()
        assert response.json()["detail"] == "Staff member not found"
        pair.seen.append(response)
    own = check(client.get(f"{path}?include_inactive=true", headers=pair.a.staff), 200)
    ids = {u["id"] for u in own["items"]}
    assert pair.a.staff_id in ids and pair.b.staff_id not in ids
    pair.seen.append(client.get(f"{path}?include_inactive=true", headers=pair.a.owner))
    no_trace_of(pair.b, pair.seen)
    b_is_untouched(client, pair, before)


def test_storefront_resolves_one_store_and_refuses_mixed_signals(
    client: TestClient, pair: Pair, before: dict[str, dict]
) -> None:
    a, b = pair.a, pair.b
    b_public = check(storefront(client, b.hostname), 200)
    assert (b_public["name"], b_public["slug"], b_public["hostname"]) == (
        b.name,
        b.slug,
        b.hostname,
    )
    assert a.name not in storefront(client, b.hostname).text
    # Case and port do not matter; the header alone reaches the same public profile.
    assert check(storefront(client, f"{b.hostname.upper()}:8443"), 200) == b_public
    assert check(storefront(client, **{"x-store-id": b.id}), 200) == b_public
    assert check(storefront(client, **a.staff), 200)["name"] == a.name

    conflicts = {
        ("Host", "X-Store-Id"): storefront(client, a.hostname, **{"x-store-id": b.id}),
        ("Host", "token store_id"): storefront(client, b.hostname, **a.staff),
        ("X-Store-Id", "token store_id"): storefront(client, **{"x-store-id": b.id}, **a.staff),
    }
    for sources, response in conflicts.items():
        assert response.status_code == 400, response.text
        assert response.json()["conflict"] == list(sources)
        pair.seen.append(response)

    unknown = storefront(client, f"{random_id()}.shop.example")
    nothing = storefront(client)
    stranger = storefront(client, **{"x-store-id": random_id()})
    for response in (unknown, nothing, stranger):
        assert response.status_code == 404, response.text
        assert response.json() == unknown.json()
        assert response.json()["detail"] == "Store not found"
    pair.seen.append(storefront(client, a.hostname, **a.staff))
    assert pair.seen[-1].json()["name"] == a.name
    no_trace_of(b, pair.seen)
    b_is_untouched(client, pair, before)


def test_a_cannot_take_b_slug_or_hostname(
    client: TestClient, pair: Pair, before: dict[str, dict]
) -> None:
    a, b = pair.a, pair.b
    attempts = [
        client.patch(a.base, headers=a.owner, json={"slug": b.slug}),
        client.post(
            "/api/stores",
            headers=a.owner,
            json={"name": "Copycat", "slug": b.slug, "placement": a.placement},
        ),
    ]
    for variant in (b.hostname, b.hostname.upper(), f"{b.hostname}:8080", f"{b.hostname}."):
        attempts.append(
            client.post(f"{a.base}/hostnames", headers=a.owner, json={"hostname": variant})
        )
        attempts.append(
            client.post(
                "/api/stores",
                headers=a.owner,
                json={
                    "name": "Copycat",
                    "slug": f"cc-{random_id()[:8]}",
                    "placement": a.placement,
                    "hostname": variant,
                },
            )
        )
    for response in attempts:
        assert response.status_code == 409, (response.request.url, response.text)
        assert b.id not in response.text
        assert response.json()["errors"][0]["field"] in {"slug", "hostname"}
        pair.seen.append(response)
    # A is unchanged and owns no copycat store.
    assert check(client.get(a.base, headers=a.owner), 200)["slug"] == a.slug
    listed = check(client.get("/api/stores", headers=a.owner), 200)
    assert [s["id"] for s in listed["items"]] == [a.id]
    routes_to(client, a)
    no_trace_of(b, pair.seen)
    b_is_untouched(client, pair, before)


def test_nothing_of_b_in_any_response_to_a(pair: Pair) -> None:
    """Every body A's credentials got in this module, checked once more together."""
    if not pair.seen:
        pytest.skip("run with the attack tests above")
    no_trace_of(pair.b, pair.seen)


def test_moving_a_leaves_b_untouched(
    client: TestClient, pair: Pair, before: dict[str, dict]
) -> None:
    """Pool and schema stores share a database: copying A out and dropping its old copy
    must not touch one row of B."""
    a = pair.a
    target = OTHER_PLACEMENT[a.placement]
    moved = check(client.post(f"{a.base}/move", headers=a.owner, json={"placement": target}), 200)
    assert moved["store"]["placement"] == target
    assert moved["move"]["status"] == "completed"
    b_is_untouched(client, pair, before)
    # A's copy holds A's rows only, and A's people still get in.
    staff = check(client.get(f"{a.base}/staff?include_inactive=true", headers=a.staff), 200)
    emails = {u["email"] for u in staff["items"]}
    assert a.staff_email in emails and pair.b.staff_email not in emails
    assert check(client.get(f"{a.base}/profile", headers=a.owner), 200)["name"] == a.name
    routes_to(client, a)
    no_trace_of(pair.b, [client.get(f"{a.base}/profile", headers=a.staff)])
