"""Store A's owner, staff and customers against store B's customers, in every placement.

Every admin customer route with B's ids (under A's path, or B's path itself) answers 404;
a customer token of A on B's storefront is refused (400: Host / X-Store-Id and the token's
store disagree) without B's data; B's rows are unchanged afterwards. Each refused call is
made again by A's own caller on A's own rows and works (the positive control).

Pre-hijacking: signing up with a guest's email shows none of the guest's orders or addresses
until the email is verified, by the address's owner, who then takes the account over; the
sign-up answer never tells whether an email is known to the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from storefleet.testing import PLACEMENTS, Stores, bearer, unique_name
from tests.commerce.customers.test_customers import (
    ADDRESS,
    CUSTOMER_PASSWORD,
    NOTICES,
    create_customer,
    customers_url,
    email,
    expire_token,
    guest_order,
    issued_tokens,
    login,
    problem,
    register,
    runtime_of,
    sign_up,
    storefront,
    verify,
)
from tests.commerce.orders.test_checkout_e2e import Shop as Storefront
from tests.commerce.orders.test_checkout_e2e import ok
from tests.isolation.attack import Request, refused_then_allowed

Shop = dict[str, Any]
STAFF_PASSWORD = "Staff-Passw0rd!x"
ATTACKER_PASSWORD = "Mall0ry-Knows-It!"
OWNER_PASSWORD = "Real-0wner-Secret!"
ME = "/api/storefront/customers/me"


def staff_token(client: TestClient, store: Shop) -> str:
    address = email("staff")
    added = client.post(
        f"/api/stores/{store['id']}/staff",
        headers=store["headers"],
        json={
            "email": address,
            "password": STAFF_PASSWORD,
            "first_name": "S",
            "last_name": "T",
            "role": "admin",
        },
    )
    assert added.status_code == 201, added.text
    login = client.post(
        "/api/auth/staff/login",
        json={"store_id": store["id"], "email": address, "password": STAFF_PASSWORD},
    )
    assert login.status_code == 200, login.text
    token: str = login.json()["token"]
    return token


def add_hostname(client: TestClient, store: Shop) -> str:
    name = f"{unique_name('h').replace('_', '-')}.shop.example"
    response = client.post(
        f"/api/stores/{store['id']}/hostnames", headers=store["headers"], json={"hostname": name}
    )
    assert response.status_code == 201, response.text
    return name


@pytest.fixture(scope="module")
def worlds(client: TestClient, stores: Stores) -> Callable[[str], dict[str, Any]]:
    """Per placement: stores A and B, A's staff, B's customer with an address, both hosts."""
    cache: dict[str, dict[str, Any]] = {}

    def get(placement: str) -> dict[str, Any]:
        if placement in cache:
            return cache[placement]
        a, b = stores.create(placement), stores.create(placement)
        b_customer = create_customer(client, b, first_name="Bea")
        b_address = client.post(
            customers_url(b, f"/{b_customer['id']}/addresses"), headers=b["headers"], json=ADDRESS
        ).json()
        a_customer = create_customer(client, a)
        a_address = client.post(
            customers_url(a, f"/{a_customer['id']}/addresses"), headers=a["headers"], json=ADDRESS
        ).json()
        runtime_of(client).login_throttle.clear()
        world = {
            "a": a,
            "b": b,
            "a_staff": staff_token(client, a),
            "a_host": add_hostname(client, a),
            "b_host": add_hostname(client, b),
            "a_customer": a_customer,
            "a_address": a_address,
            "b_customer": b_customer,
            "b_address": b_address,
            "a_account": register(client, a),
            "b_account": register(client, b),
        }
        cache[placement] = world
        return world

    return get


@pytest.fixture(params=PLACEMENTS)
def world(
    request: pytest.FixtureRequest, worlds: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    return worlds(str(request.param))


def snapshot(client: TestClient, w: dict[str, Any]) -> Any:
    b = w["b"]
    customer = client.get(customers_url(b, f"/{w['b_customer']['id']}"), headers=b["headers"])
    addresses = client.get(
        customers_url(b, f"/{w['b_customer']['id']}/addresses"), headers=b["headers"]
    )
    listed = client.get(customers_url(b), headers=b["headers"], params={"limit": 200})
    me = client.get(ME, headers=storefront(b, w["b_account"]["token"]))
    assert customer.status_code == addresses.status_code == listed.status_code == 200
    assert me.status_code == 200
    return customer.json(), addresses.json(), listed.json(), me.json()


def attempts(a: Shop, b: Shop, bc: str, ba: str, *, mixed: str) -> list[Request]:
    """Customer ``bc`` and its address ``ba`` (of store ``b``) through A's path and B's path;
    ``mixed`` is a customer of A's with ``ba`` under it."""
    patch = {"first_name": "Hacked"}
    return [
        # A's path, B's ids.
        ("GET", customers_url(a, f"/{bc}"), None),
        ("PATCH", customers_url(a, f"/{bc}"), patch),
        ("DELETE", customers_url(a, f"/{bc}"), None),
        ("GET", customers_url(a, f"/{bc}/addresses"), None),
        ("POST", customers_url(a, f"/{bc}/addresses"), ADDRESS),
        ("PATCH", customers_url(a, f"/{bc}/addresses/{ba}"), {"city": "Hacked"}),
        ("DELETE", customers_url(a, f"/{bc}/addresses/{ba}"), None),
        ("PATCH", customers_url(a, f"/{mixed}/addresses/{ba}"), {"city": "Hacked"}),
        ("DELETE", customers_url(a, f"/{mixed}/addresses/{ba}"), None),
        # B's path itself.
        ("GET", customers_url(b), None),
        ("POST", customers_url(b), {"email": email("x")}),
        ("GET", customers_url(b, f"/{bc}"), None),
        ("PATCH", customers_url(b, f"/{bc}"), patch),
        ("DELETE", customers_url(b, f"/{bc}"), None),
        ("GET", customers_url(b, f"/{bc}/addresses"), None),
        ("POST", customers_url(b, f"/{bc}/addresses"), ADDRESS),
        ("PATCH", customers_url(b, f"/{bc}/addresses/{ba}"), {"city": "Hacked"}),
        ("DELETE", customers_url(b, f"/{bc}/addresses/{ba}"), None),
    ]


@pytest.mark.parametrize("actor", ["owner", "staff"])
def test_admin_customer_routes_refuse_other_store_ids(
    client: TestClient, world: dict[str, Any], actor: str
) -> None:
    w = world
    a, b = w["a"], w["b"]
    headers = a["headers"] if actor == "owner" else bearer(w["a_staff"])
    before = snapshot(client, w)
    bc, ba = w["b_customer"]["id"], w["b_address"]["id"]
    ac = w["a_customer"]["id"]
    # A's own customer and address for the positive controls (which delete them).
    mine = create_customer(client, a)["id"]
    address = client.post(customers_url(a, f"/{mine}/addresses"), headers=headers, json=ADDRESS)
    assert address.status_code == 201, address.text
    for response in refused_then_allowed(
        client,
        attempts(a, b, bc, ba, mixed=ac),
        headers,
        attempts(a, a, mine, address.json()["id"], mixed=mine),
        headers,
    ):
        assert "Bea" not in response.text
    # A's own list never shows B's customer.
    listed = client.get(customers_url(a), headers=headers, params={"limit": 200}).json()
    assert bc not in {c["id"] for c in listed["items"]}
    assert snapshot(client, w) == before


def test_customer_token_of_a_on_store_b(client: TestClient, world: dict[str, Any]) -> None:
    w = world
    a, b = w["a"], w["b"]
    token = w["a_account"]["token"]
    before = snapshot(client, w)
    routes: list[Request] = [
        ("GET", ME, None),
        ("PATCH", ME, {"first_name": "Hacked"}),
        ("GET", f"{ME}/addresses", None),
        ("POST", f"{ME}/addresses", ADDRESS),
        ("GET", f"{ME}/orders", None),
        ("POST", "/api/storefront/customers/logout", None),
    ]
    runtime_of(client).login_throttle.clear()
    for signal in ({"Host": w["b_host"]}, {"X-Store-Id": str(b["id"])}):
        # Controls: the same calls in A with a session of A's account of its own (logout ends it).
        session = login(client, a, w["a_account"]["email"], CUSTOMER_PASSWORD)
        assert session.status_code == 200, session.text
        for response in refused_then_allowed(
            client,
            routes,
            {**signal, **bearer(token)},
            routes,
            {"Host": w["a_host"], **bearer(session.json()["token"])},
            status=400,
        ):
            assert w["b_customer"]["email"] not in response.text
            assert w["b_account"]["email"] not in response.text
    # Also with no store signal but the token, the token's own store (A) is served.
    mine = client.get(ME, headers=bearer(token))
    assert mine.status_code == 200 and mine.json()["email"] == w["a_account"]["email"]
    # B's address id through A's customer: not found; A's through B's customer neither.
    on_a = {"Host": w["a_host"], **bearer(token)}
    own = client.post(f"{ME}/addresses", headers=on_a, json=ADDRESS)
    assert own.status_code == 201, own.text
    refused_then_allowed(
        client,
        [("PATCH", f"{ME}/addresses/{w['b_address']['id']}", {"city": "Hacked"})],
        on_a,
        [("PATCH", f"{ME}/addresses/{own.json()['id']}", {"city": "Hacked"})],
        on_a,
    )
    refused_then_allowed(
        client,
        [("DELETE", f"{ME}/addresses/{w['a_address']['id']}", None)],
        {"Host": w["b_host"], **bearer(w["b_account"]["token"])},
        [("DELETE", f"{ME}/addresses/{own.json()['id']}", None)],
        on_a,
    )
    # A's customer token on admin routes: 403 for its own store, 404 for B; A's owner is let in.
    refused_then_allowed(
        client, [("GET", customers_url(a), None)], bearer(token),
        [("GET", customers_url(a), None)], a["headers"], status=403,
    )  # fmt: skip
    refused_then_allowed(
        client, [("GET", customers_url(b), None)], bearer(token),
        [("GET", customers_url(a), None)], a["headers"],
    )  # fmt: skip
    # A's credentials do not sign in on B (they do on A); the same email can register
    # separately on B.
    runtime_of(client).login_throttle.clear()
    credentials = {"email": w["a_account"]["email"], "password": CUSTOMER_PASSWORD}
    login_url = "/api/storefront/customers/login"
    elsewhere = client.post(login_url, headers={"Host": w["b_host"]}, json=credentials)
    assert elsewhere.status_code == 401, elsewhere.text
    at_home = client.post(login_url, headers={"Host": w["a_host"]}, json=credentials)
    assert at_home.status_code == 200, at_home.text
    assert snapshot(client, w) == before


def guest_checkout(client: TestClient, store: Shop, address: str) -> tuple[str, str]:
    """A real guest checkout in ``store``: (order id, guest customer id)."""
    front = Storefront(client, store)
    front.tax_class("standard", 1900, default=True)
    front.payment_method()
    method = front.shipping({"USD": 500})
    variant = front.product("Thing", {"USD": 1000})
    cart = front.cart()
    front.add(cart, variant, 1)
    front.ready(cart, address, method)
    order = ok(front.checkout(cart), 201)
    return str(order["id"]), str(order["customer_id"])


def own(client: TestClient, store: Shop, token: str, suffix: str) -> Any:
    response = client.get(f"{ME}{suffix}", headers=storefront(store, token))
    assert response.status_code == 200, response.text
    return response.json()


def test_signing_up_with_a_guests_email_shows_nothing_until_the_owner_verifies(
    client: TestClient, world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=NOTICES)
    runtime_of(client).login_throttle.clear()
    store, other = world["a"], world["b"]
    victim = email("victim")
    guest_order_id, guest_id = guest_checkout(client, store, victim)
    kept = client.post(
        customers_url(store, f"/{guest_id}/addresses"), headers=store["headers"], json=ADDRESS
    )
    assert kept.status_code == 201, kept.text

    # The attacker signs up with the guest's email first, and signs in.
    taken = sign_up(client, store, email=victim, password=ATTACKER_PASSWORD, first_name="Mal")
    assert taken.status_code == 201, taken.text
    signed_in = login(client, store, victim, ATTACKER_PASSWORD)
    assert signed_in.status_code == 200, signed_in.text
    attacker = signed_in.json()["token"]

    def sees_nothing_of_the_guest() -> None:
        orders = own(client, store, attacker, "/orders")
        assert orders["total"] == 0 and orders["items"] == []
        assert own(client, store, attacker, "/addresses")["items"] == []
        me = own(client, store, attacker, "")
        assert me["email_verified"] is False and me["first_name"] == "Mal"
        assert (
            guest_order_id
            not in client.get(f"{ME}/orders", headers=storefront(store, attacker)).text
        )

    sees_nothing_of_the_guest()
    assert "token" not in taken.json()  # sign-up signs no one in
    assert signed_in.json()["customer"]["id"] != guest_id
    # Wrong tokens, the right token on another store, an expired token: nothing joins.
    [first] = issued_tokens(caplog, victim)
    problem(verify(client, store, "W" * 43, ATTACKER_PASSWORD), 400, "token")
    problem(verify(client, other, first, ATTACKER_PASSWORD), 400, "token")
    expire_token(client, store, victim)
    problem(verify(client, store, first, ATTACKER_PASSWORD), 400, "token")
    sees_nothing_of_the_guest()

    # The real owner signs up later: the same answer, and a fresh link to the address.
    again = sign_up(client, store, email=victim, password=OWNER_PASSWORD)
    assert again.status_code == 201 and again.json() == taken.json()
    sees_nothing_of_the_guest()
    [_, link] = issued_tokens(caplog, victim)
    verified = verify(client, store, link, OWNER_PASSWORD)
    assert verified.status_code == 200, verified.text
    owner = verified.json()["token"]
    # Positive control: the owner sees the guest's order and address.
    assert [o["id"] for o in own(client, store, owner, "/orders")["items"]] == [guest_order_id]
    assert [a["id"] for a in own(client, store, owner, "/addresses")["items"]] == [
        kept.json()["id"]
    ]
    # The link works once; the attacker's session and password are gone.
    problem(verify(client, store, link, ATTACKER_PASSWORD), 400, "token")
    problem(client.get(ME, headers=storefront(store, attacker)), 401)
    problem(login(client, store, victim, ATTACKER_PASSWORD), 401)
    assert login(client, store, victim, OWNER_PASSWORD).status_code == 200
    assert own(client, store, owner, "")["email_verified"] is True


def test_sign_up_answer_does_not_tell_whether_an_email_is_known(
    client: TestClient, world: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=NOTICES)
    runtime_of(client).login_throttle.clear()
    store = world["a"]
    new = sign_up(client, store, email=email("new"), password=ATTACKER_PASSWORD)
    assert new.status_code == 201, new.text
    shape = {k: v for k, v in new.json().items() if k != "email"}

    def answers_like_a_new_email(case: str, address: str) -> None:
        answer = sign_up(client, store, email=address, password=ATTACKER_PASSWORD)
        assert answer.status_code == new.status_code, (case, answer.text)
        assert answer.headers["content-type"] == new.headers["content-type"], case
        assert set(answer.json()) == set(new.json()), case
        assert {k: v for k, v in answer.json().items() if k != "email"} == shape, case

    guest = email("guest")
    guest_order(client, store, guest)
    for case, address in {
        "unverified account": world["a_account"]["email"],
        "guest": guest,
        "owner": store["owner"]["user"]["email"],
        "staff-entered customer": world["a_customer"]["email"],
    }.items():
        answers_like_a_new_email(case, address)
    problem(login(client, store, store["owner"]["user"]["email"], ATTACKER_PASSWORD), 401)

    verified_email = email("verified")
    assert sign_up(client, store, email=verified_email).status_code == 201
    [link] = issued_tokens(caplog, verified_email)
    session = verify(client, store, link, OWNER_PASSWORD)
    assert session.status_code == 200, session.text
    answers_like_a_new_email("verified account", verified_email)
    # Nothing changed for the verified account: its session and password still work, the
    # sign-up's password does not, and no link was issued for it.
    assert own(client, store, session.json()["token"], "")["email_verified"] is True
    assert login(client, store, verified_email, OWNER_PASSWORD).status_code == 200
    problem(login(client, store, verified_email, ATTACKER_PASSWORD), 401)
    assert issued_tokens(caplog, verified_email) == [link]
