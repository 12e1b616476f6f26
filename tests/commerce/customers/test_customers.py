"""Customers and addresses through the admin API, in every placement; the helpers that the
storefront account tests (``test_customer_accounts``) and the attack suite share."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError

from storefleet.commerce.customers import service as customers
from storefleet.commerce.customers.models import CustomerAddress
from storefleet.commerce.orders.checkout import next_order_number
from storefleet.commerce.orders.models import Order
from storefleet.commerce.users.models import TenantUser
from storefleet.runtime import Runtime
from storefleet.testing import PLACEMENTS, Stores, bearer, unique_name

T = TypeVar("T")
Shop = dict[str, Any]
PROBLEM = "application/problem+json"
CUSTOMER_PASSWORD = "Cust0mer-Secret!"
ACCOUNT = "/api/storefront/customers"
SIGN_UP = f"{ACCOUNT}/register"
NOTICES = "storefleet.commerce.customers.notices"
ADDRESS = {"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def call(client: TestClient, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run a coroutine function on the app's event loop (its engines live there)."""
    return client.portal.call(functools.partial(fn, *args, **kwargs))  # type: ignore[union-attr]


def email(tag: str = "c") -> str:
    return f"{tag}-{unique_name('e').replace('_', '-')}@example.com"


def problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    if field is not None:
        assert field in {e["field"] for e in body.get("errors", [])}, body
    return body


def customers_url(store: Shop, suffix: str = "") -> str:
    return f"/api/stores/{store['id']}/customers{suffix}"


def storefront(store: Shop, token: str | None = None) -> dict[str, str]:
    headers = {"X-Store-Id": str(store["id"])}
    if token:
        headers.update(bearer(token))
    return headers


def create_customer(client: TestClient, store: Shop, **body: Any) -> dict[str, Any]:
    body.setdefault("email", email())
    response = client.post(customers_url(store), headers=store["headers"], json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def sign_up(client: TestClient, store: Shop, **body: Any) -> httpx.Response:
    body.setdefault("email", email("acct"))
    body.setdefault("password", CUSTOMER_PASSWORD)
    return client.post(SIGN_UP, headers=storefront(store), json=body)


def login(client: TestClient, store: Shop, address: str, password: str) -> httpx.Response:
    return client.post(
        f"{ACCOUNT}/login", headers=storefront(store), json={"email": address, "password": password}
    )


def register(client: TestClient, store: Shop, **body: Any) -> dict[str, Any]:
    """A new (unverified) account, signed in: ``{token, customer, email}``."""
    body.setdefault("email", email("acct"))
    body.setdefault("password", CUSTOMER_PASSWORD)
    body.setdefault("first_name", "Ada")
    body.setdefault("last_name", "Lovelace")
    response = sign_up(client, store, **body)
    assert response.status_code == 201, response.text
    signed_in = login(client, store, body["email"], body["password"])
    assert signed_in.status_code == 200, signed_in.text
    data: dict[str, Any] = signed_in.json()
    data["email"] = body["email"]
    return data


def issued_tokens(caplog: pytest.LogCaptureFixture, address: str) -> list[str]:
    """Verification tokens ``notices`` logged for ``address`` (test env), oldest first."""
    return [
        r.verification_token
        for r in caplog.records
        if r.name == NOTICES and getattr(r, "email", None) == address
        if hasattr(r, "verification_token")
    ]


def verify(client: TestClient, store: Shop, token: str, password: str) -> httpx.Response:
    return client.post(
        f"{ACCOUNT}/verify-email",
        headers=storefront(store),
        json={"token": token, "password": password},
    )


def expire_token(client: TestClient, store: Shop, address: str) -> None:
    async def run() -> None:
        async with runtime_of(client).tenancy.session(uuid.UUID(store["id"])) as s:
            await s.execute(
                update(TenantUser)
                .where(func.lower(TenantUser.email) == address.lower())
                .values(email_verification_expires=datetime.now(UTC) - timedelta(seconds=1))
            )

    call(client, run)


def guest_order(
    client: TestClient, store: Shop, address: str, customer_id: str | None = None, **guest: Any
) -> tuple[str, str]:
    """A checkout's rows: the guest customer (or ``customer_id``'s) and one order;
    (customer id, order id)."""

    async def run() -> tuple[str, str]:
        store_id = uuid.UUID(store["id"])
        async with runtime_of(client).tenancy.session(store_id) as s:
            if customer_id is None:
                found = await customers.find_or_create_guest(s, store_id, address, **guest)
            else:
                found = await customers.get_customer(s, uuid.UUID(customer_id))
            order = Order(
                store_id=store_id,
                number=await next_order_number(s, store_id),
                currency="USD",
                subtotal=1000,
                total=1190,
                customer_id=found.id,
                email=address,
                placed_at=datetime.now(UTC),
            )
            s.add(order)
            await s.flush()
            return str(found.id), str(order.id)

    return call(client, run)


@pytest.fixture(autouse=True)
def _fresh_login_throttle(client: TestClient) -> None:
    runtime_of(client).login_throttle.clear()


@pytest.fixture(scope="module")
def shops(stores: Stores) -> Callable[[str], Shop]:
    cache: dict[str, Shop] = {}

    def get(placement: str) -> Shop:
        if placement not in cache:
            cache[placement] = stores.create(placement)
        return cache[placement]

    return get


@pytest.fixture(params=PLACEMENTS)
def shop(request: pytest.FixtureRequest, shops: Callable[[str], Shop]) -> Shop:
    return shops(str(request.param))


# -- admin: customers ----------------------------------------------------------------------


def test_customer_crud_validation_and_soft_delete(client: TestClient, shop: Shop) -> None:
    address = email("crud")
    created = create_customer(
        client,
        shop,
        email=address,
        first_name="Grace",
        last_name="Hopper",
        phone="+49 30 1234567",
        tags=["vip"],
        customer_group="wholesale",
    )
    assert created["is_guest"] is False and created["has_account"] is False
    assert created["tags"] == ["vip"] and created["customer_group"] == "wholesale"
    # Unique per store, whatever the letter case; the 409 names the email.
    body = problem(
        client.post(customers_url(shop), headers=shop["headers"], json={"email": address.upper()}),
        409,
        "email",
    )
    assert address.lower() in body["detail"].lower()
    problem(
        client.post(customers_url(shop), headers=shop["headers"], json={"email": "not-an-email"}),
        422,
        "email",
    )
    problem(
        client.post(
            customers_url(shop),
            headers=shop["headers"],
            json={"email": email(), "store_id": str(uuid.uuid4())},
        ),
        422,
        "store_id",
    )
    url = customers_url(shop, f"/{created['id']}")
    assert client.get(url, headers=shop["headers"]).json()["email"] == address
    patched = client.patch(
        url, headers=shop["headers"], json={"last_name": "Hopper-Murray", "accepts_marketing": True}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["last_name"] == "Hopper-Murray"
    assert patched.json()["accepts_marketing"] is True
    problem(client.patch(url, headers=shop["headers"], json={"email": None}), 422, "email")
    assert client.delete(url, headers=shop["headers"]).status_code == 204
    problem(client.get(url, headers=shop["headers"]), 404)
    problem(client.delete(url, headers=shop["headers"]), 404)
    listed = client.get(customers_url(shop), headers=shop["headers"], params={"q": address})
    assert listed.json()["items"] == []
    # A soft-deleted customer frees the email.
    again = create_customer(client, shop, email=address)
    assert again["id"] != created["id"]


def test_customer_list_filters_sort_and_escaped_search(client: TestClient, shop: Shop) -> None:
    tag = unique_name("t").replace("_", "-")[:60]
    a = create_customer(client, shop, email=email("aa"), first_name="Zed", tags=[tag])
    b = create_customer(
        client, shop, email=email("bb"), first_name="100%_off", tags=[tag], accepts_marketing=True
    )
    c = create_customer(client, shop, email=email("cc"), first_name="Al", customer_group=tag)
    h = shop["headers"]

    def ids(**params: Any) -> list[str]:
        response = client.get(customers_url(shop), headers=h, params=params)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert set(ids(tag=tag)) == {a["id"], b["id"]}
    assert ids(group=tag) == [c["id"]]
    assert ids(tag=tag, accepts_marketing=True) == [b["id"]]
    assert ids(tag=tag, accepts_marketing=False) == [a["id"]]
    # LIKE wildcards in q match themselves, not everything.
    assert ids(q="%_") == [b["id"]]
    assert ids(q=a["email"].upper()) == [a["id"]]
    assert ids(tag=tag, sort="email") == [a["id"], b["id"]]
    assert ids(tag=tag, sort="-email") == [b["id"], a["id"]]
    page = client.get(customers_url(shop), headers=h, params={"tag": tag, "limit": 1}).json()
    assert page["total"] == 2 and len(page["items"]) == 1
    problem(client.get(customers_url(shop), headers=h, params={"sort": "notes"}), 422, "sort")
    problem(client.get(customers_url(shop), headers=h, params={"limit": 500}), 422, "limit")


# -- addresses -----------------------------------------------------------------------------


def test_address_defaults_are_single_and_switchable(client: TestClient, shop: Shop) -> None:
    customer = create_customer(client, shop)
    url = customers_url(shop, f"/{customer['id']}/addresses")
    h = shop["headers"]
    first = client.post(url, headers=h, json=ADDRESS)
    assert first.status_code == 201, first.text
    assert first.json()["is_default_shipping"] and first.json()["is_default_billing"]
    second = client.post(
        url, headers=h, json={**ADDRESS, "line1": "Nebenstr. 2", "is_default_shipping": True}
    )
    assert second.status_code == 201, second.text
    by_id = {a["id"]: a for a in client.get(url, headers=h).json()["items"]}
    assert by_id[first.json()["id"]]["is_default_shipping"] is False
    assert by_id[first.json()["id"]]["is_default_billing"] is True
    assert by_id[second.json()["id"]]["is_default_shipping"] is True
    # Switch billing to the second address with a PATCH.
    switched = client.patch(
        f"{url}/{second.json()['id']}", headers=h, json={"is_default_billing": True, "city": "Köln"}
    )
    assert switched.status_code == 200, switched.text
    assert switched.json()["city"] == "Köln" and switched.json()["is_default_billing"]
    items = client.get(url, headers=h).json()["items"]
    assert sum(a["is_default_billing"] for a in items) == 1
    assert sum(a["is_default_shipping"] for a in items) == 1

    # The database itself refuses two defaults (partial unique index).
    async def two_defaults() -> None:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop["id"])) as s:
            await s.execute(
                update(CustomerAddress)
                .where(CustomerAddress.customer_id == uuid.UUID(customer["id"]))
                .values(is_default_shipping=True)
            )

    with pytest.raises(IntegrityError):
        call(client, two_defaults)

    # Malformed addresses: 422 naming the field, nothing changes.
    problem(client.post(url, headers=h, json={**ADDRESS, "country": "Germany"}), 422, "country")
    problem(client.post(url, headers=h, json={**ADDRESS, "postal_code": "<b>"}), 422, "postal_code")
    problem(client.post(url, headers=h, json={"city": "Berlin", "country": "DE"}), 422, "line1")
    problem(
        client.patch(f"{url}/{first.json()['id']}", headers=h, json={"country": "de1"}),
        422,
        "country",
    )
    problem(
        client.patch(f"{url}/{first.json()['id']}", headers=h, json={"line1": None}), 422, "line1"
    )
    assert len(client.get(url, headers=h).json()["items"]) == 2
    assert client.get(url, headers=h).json()["items"][0]["country"] == "DE"
    # An address of another customer is not found under this one.
    other = create_customer(client, shop)
    other_url = customers_url(shop, f"/{other['id']}/addresses")
    problem(client.patch(f"{other_url}/{first.json()['id']}", headers=h, json={"city": "X"}), 404)
    problem(client.delete(f"{other_url}/{first.json()['id']}", headers=h), 404)
    assert client.delete(f"{url}/{first.json()['id']}", headers=h).status_code == 204
    assert len(client.get(url, headers=h).json()["items"]) == 1
