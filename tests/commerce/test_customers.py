"""Customers (admin), addresses, and storefront customer accounts, in every placement."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from storefleet.commerce.customers import service as customers
from storefleet.commerce.customers.models import CustomerAddress
from storefleet.commerce.orders.models import Order
from storefleet.runtime import Runtime
from tests.conftest import PLACEMENTS, Stores, bearer
from tests.pgserver import unique_name

T = TypeVar("T")
Shop = dict[str, Any]
PROBLEM = "application/problem+json"
CUSTOMER_PASSWORD = "Cust0mer-Secret!"
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


def register(client: TestClient, store: Shop, **body: Any) -> dict[str, Any]:
    body.setdefault("email", email("acct"))
    body.setdefault("password", CUSTOMER_PASSWORD)
    body.setdefault("first_name", "Ada")
    body.setdefault("last_name", "Lovelace")
    response = client.post(
        "/api/storefront/customers/register", headers=storefront(store), json=body
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    data["email"] = body["email"]
    return data


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


# -- storefront accounts -------------------------------------------------------------------


def test_register_login_me_and_logout(client: TestClient, shop: Shop) -> None:
    account = register(client, shop, accepts_marketing=True)
    token = account["token"]
    assert account["customer"]["email"] == account["email"]
    assert set(account["customer"]) == {
        "id", "email", "first_name", "last_name", "phone", "accepts_marketing", "created_at",
    }  # fmt: skip
    base = "/api/storefront/customers"
    me = client.get(f"{base}/me", headers=storefront(shop, token))
    assert me.status_code == 200 and me.json()["accepts_marketing"] is True
    # Duplicates (any letter case) and weak passwords are refused.
    dup = client.post(
        f"{base}/register",
        headers=storefront(shop),
        json={"email": account["email"].upper(), "password": CUSTOMER_PASSWORD},
    )
    problem(dup, 409, "email")
    weak = client.post(
        f"{base}/register",
        headers=storefront(shop),
        json={"email": email(), "password": "short"},
    )
    problem(weak, 422, "password")
    # Staff and owner emails are taken too (one users table per store).
    taken = client.post(
        f"{base}/register",
        headers=storefront(shop),
        json={"email": shop["owner"]["user"]["email"], "password": CUSTOMER_PASSWORD},
    )
    problem(taken, 409, "email")

    # Login: wrong password and unknown email fail alike.
    wrong = client.post(
        f"{base}/login",
        headers=storefront(shop),
        json={"email": account["email"], "password": "Wrong-Passw0rd!"},
    )
    unknown = client.post(
        f"{base}/login",
        headers=storefront(shop),
        json={"email": email(), "password": CUSTOMER_PASSWORD},
    )
    assert problem(wrong, 401)["detail"] == problem(unknown, 401)["detail"]
    login = client.post(
        f"{base}/login",
        headers=storefront(shop),
        json={"email": account["email"].upper(), "password": CUSTOMER_PASSWORD},
    )
    assert login.status_code == 200, login.text
    second_token = login.json()["token"]
    assert login.json()["customer"]["id"] == account["customer"]["id"]

    patched = client.patch(
        f"{base}/me",
        headers=storefront(shop, token),
        json={"first_name": "Augusta", "phone": "+44 20 7946 0000", "accepts_marketing": False},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["first_name"] == "Augusta"
    assert patched.json()["accepts_marketing"] is False
    problem(
        client.patch(f"{base}/me", headers=storefront(shop, token), json={"email": "x@y.z"}), 422
    )
    admin_view = client.get(
        customers_url(shop, f"/{account['customer']['id']}"), headers=shop["headers"]
    ).json()
    assert admin_view["first_name"] == "Augusta" and admin_view["has_account"] is True

    # Own addresses.
    addresses = f"{base}/me/addresses"
    created = client.post(addresses, headers=storefront(shop, token), json=ADDRESS)
    assert created.status_code == 201, created.text
    assert created.json()["is_default_shipping"] is True
    problem(
        client.post(addresses, headers=storefront(shop, token), json={**ADDRESS, "country": "X"}),
        422,
        "country",
    )
    patched_address = client.patch(
        f"{addresses}/{created.json()['id']}",
        headers=storefront(shop, token),
        json={"line2": "Hinterhaus"},
    )
    assert patched_address.json()["line2"] == "Hinterhaus"
    assert [
        a["id"] for a in client.get(addresses, headers=storefront(shop, token)).json()["items"]
    ] == [created.json()["id"]]
    # Another customer's address is not reachable through /me.
    other = register(client, shop)
    problem(
        client.patch(
            f"{addresses}/{created.json()['id']}",
            headers=storefront(shop, other["token"]),
            json={"city": "Evil"},
        ),
        404,
    )
    problem(
        client.delete(
            f"{addresses}/{created.json()['id']}", headers=storefront(shop, other["token"])
        ),
        404,
    )
    assert (
        client.delete(
            f"{addresses}/{created.json()['id']}", headers=storefront(shop, token)
        ).status_code
        == 204
    )

    # Logout revokes exactly this token.
    assert client.post(f"{base}/logout", headers=storefront(shop, token)).status_code == 204
    problem(client.get(f"{base}/me", headers=storefront(shop, token)), 401)
    assert client.get(f"{base}/me", headers=storefront(shop, second_token)).status_code == 200
    problem(client.get(f"{base}/me", headers=storefront(shop)), 401)


def test_own_orders_lists_only_this_customers_orders(client: TestClient, shop: Shop) -> None:
    mine = register(client, shop)
    theirs = register(client, shop)
    base = "/api/storefront/customers/me/orders"
    empty = client.get(base, headers=storefront(shop, mine["token"]))
    assert empty.status_code == 200 and empty.json()["items"] == []

    async def insert_orders() -> None:
        store_id = uuid.UUID(shop["id"])
        async with runtime_of(client).tenancy.session(store_id) as s:
            for number, customer in ((101, mine), (102, theirs), (103, mine)):
                s.add(
                    Order(
                        store_id=store_id,
                        number=number + 1000 * PLACEMENTS.index(shop["placement"]),
                        currency="USD",
                        subtotal=1000,
                        total=1190 + number,
                        customer_id=uuid.UUID(customer["customer"]["id"]),
                        email=customer["email"],
                        placed_at=datetime.now(UTC),
                    )
                )

    call(client, insert_orders)
    listed = client.get(base, headers=storefront(shop, mine["token"]), params={"limit": 1})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["total"] == 2 and len(body["items"]) == 1
    everything = client.get(base, headers=storefront(shop, mine["token"])).json()["items"]
    assert sorted(o["total"] for o in everything) == [1291, 1293]
    assert set(everything[0]) == {
        "id", "number", "status", "payment_status", "fulfillment_status", "currency", "total",
        "placed_at",
    }  # fmt: skip
    assert everything[0]["status"] == "pending" and everything[0]["currency"] == "USD"


def test_guest_is_upgraded_on_register_and_deleted_customer_loses_access(
    client: TestClient, shop: Shop
) -> None:
    address = email("guest")

    async def guests() -> tuple[uuid.UUID, uuid.UUID]:
        store_id = uuid.UUID(shop["id"])
        async with runtime_of(client).tenancy.session(store_id) as s:
            one = await customers.find_or_create_guest(s, store_id, address, "Gus")
            two = await customers.find_or_create_guest(s, store_id, address.upper())
            return one.id, two.id

    first, second = call(client, guests)
    assert first == second
    admin = client.get(customers_url(shop, f"/{first}"), headers=shop["headers"]).json()
    assert admin["is_guest"] is True and admin["first_name"] == "Gus"
    account = register(client, shop, email=address, first_name="Gustav")
    assert account["customer"]["id"] == str(first)
    admin = client.get(customers_url(shop, f"/{first}"), headers=shop["headers"]).json()
    assert admin["is_guest"] is False and admin["has_account"] is True
    assert admin["first_name"] == "Gustav"

    async def lookup() -> uuid.UUID | None:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop["id"]), write=False) as s:
            user = await customers.find_user_by_email(s, address)
            assert user is not None and user.role == "customer"
            found = await customers.get_customer_for_user(s, user.id)
            return found.id if found else None

    assert call(client, lookup) == first
    # Staff delete the customer: the token stops working and sign-in fails.
    me = "/api/storefront/customers/me"
    assert client.get(me, headers=storefront(shop, account["token"])).status_code == 200
    assert (
        client.delete(customers_url(shop, f"/{first}"), headers=shop["headers"]).status_code == 204
    )
    problem(client.get(me, headers=storefront(shop, account["token"])), 401)
    login = client.post(
        "/api/storefront/customers/login",
        headers=storefront(shop),
        json={"email": address, "password": CUSTOMER_PASSWORD},
    )
    problem(login, 401)
    assert call(client, lookup) is None


def test_customer_token_is_not_an_admin_token(client: TestClient, shop: Shop) -> None:
    account = register(client, shop)
    for url in (customers_url(shop), f"/api/stores/{shop['id']}/tax-classes"):
        response = client.get(url, headers=bearer(account["token"]))
        assert response.status_code in (403, 404), response.text
        assert "items" not in response.json()
    # An owner's token is not a customer token either.
    owner = storefront(shop) | shop["headers"]
    problem(client.get("/api/storefront/customers/me", headers=owner), 401)
