"""Storefront customer accounts in every placement: sign-up, sign-in, profile, own orders."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from storefleet.commerce.customers import service as customers
from storefleet.commerce.orders.models import Order
from storefleet.commerce.users.models import TenantUser
from storefleet.testing import PLACEMENTS, bearer
from tests.commerce.customers.test_customers import (
    ACCOUNT,
    ADDRESS,
    CUSTOMER_PASSWORD,
    Shop,
    call,
    customers_url,
    email,
    login,
    problem,
    register,
    runtime_of,
    shop,
    shops,
    sign_up,
    storefront,
)

__all__ = ["shop", "shops"]  # fixtures


@pytest.fixture(autouse=True)
def _fresh_login_throttle(client: TestClient) -> None:
    runtime_of(client).login_throttle.clear()


def test_register_login_me_and_logout(client: TestClient, shop: Shop) -> None:
    account = register(client, shop, accepts_marketing=True)
    token = account["token"]
    assert account["customer"]["email"] == account["email"]
    assert set(account["customer"]) == {
        "id", "email", "first_name", "last_name", "phone", "accepts_marketing",
        "email_verified", "created_at",
    }  # fmt: skip
    assert account["customer"]["email_verified"] is False
    me = client.get(f"{ACCOUNT}/me", headers=storefront(shop, token))
    assert me.status_code == 200 and me.json()["accepts_marketing"] is True
    assert me.json()["email_verified"] is False
    weak = sign_up(client, shop, password="short")
    problem(weak, 422, "password")

    # Login: wrong password and unknown email fail alike.
    wrong = login(client, shop, account["email"], "Wrong-Passw0rd!")
    unknown = login(client, shop, email(), CUSTOMER_PASSWORD)
    assert problem(wrong, 401)["detail"] == problem(unknown, 401)["detail"]
    again = login(client, shop, account["email"].upper(), CUSTOMER_PASSWORD)
    assert again.status_code == 200, again.text
    second_token = again.json()["token"]
    assert again.json()["customer"]["id"] == account["customer"]["id"]

    patched = client.patch(
        f"{ACCOUNT}/me",
        headers=storefront(shop, token),
        json={"first_name": "Augusta", "phone": "+44 20 7946 0000", "accepts_marketing": False},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["first_name"] == "Augusta"
    assert patched.json()["accepts_marketing"] is False
    problem(
        client.patch(f"{ACCOUNT}/me", headers=storefront(shop, token), json={"email": "x@y.z"}),
        422,
    )
    admin_view = client.get(
        customers_url(shop, f"/{account['customer']['id']}"), headers=shop["headers"]
    ).json()
    assert admin_view["first_name"] == "Augusta" and admin_view["has_account"] is True

    # Own addresses.
    addresses = f"{ACCOUNT}/me/addresses"
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
    assert client.post(f"{ACCOUNT}/logout", headers=storefront(shop, token)).status_code == 204
    problem(client.get(f"{ACCOUNT}/me", headers=storefront(shop, token)), 401)
    assert client.get(f"{ACCOUNT}/me", headers=storefront(shop, second_token)).status_code == 200
    problem(client.get(f"{ACCOUNT}/me", headers=storefront(shop)), 401)


def test_own_orders_lists_only_this_customers_orders(client: TestClient, shop: Shop) -> None:
    mine = register(client, shop)
    theirs = register(client, shop)
    base = f"{ACCOUNT}/me/orders"
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


def test_deleted_customer_loses_access(client: TestClient, shop: Shop) -> None:
    account = register(client, shop)
    customer_id = account["customer"]["id"]

    async def lookup() -> uuid.UUID | None:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop["id"]), write=False) as s:
            user = (
                await s.execute(select(TenantUser).where(TenantUser.email == account["email"]))
            ).scalar_one_or_none()
            assert user is not None and user.role == "customer"
            found = await customers.get_customer_for_user(s, user.id)
            return found.id if found else None

    assert call(client, lookup) == uuid.UUID(customer_id)
    me = f"{ACCOUNT}/me"
    assert client.get(me, headers=storefront(shop, account["token"])).status_code == 200
    deleted = client.delete(customers_url(shop, f"/{customer_id}"), headers=shop["headers"])
    assert deleted.status_code == 204
    problem(client.get(me, headers=storefront(shop, account["token"])), 401)
    problem(login(client, shop, account["email"], CUSTOMER_PASSWORD), 401)
    assert call(client, lookup) is None


def test_customer_token_is_not_an_admin_token(client: TestClient, shop: Shop) -> None:
    account = register(client, shop)
    for url in (customers_url(shop), f"/api/stores/{shop['id']}/tax-classes"):
        response = client.get(url, headers=bearer(account["token"]))
        assert response.status_code in (403, 404), response.text
        assert "items" not in response.json()
    # An owner's token is not a customer token either.
    owner = storefront(shop) | shop["headers"]
    problem(client.get(f"{ACCOUNT}/me", headers=owner), 401)


def _shape(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "email"}


def test_sign_up_answers_alike_and_leaves_existing_users_unchanged(
    client: TestClient, shop: Shop
) -> None:
    """New email, pending account, staff-entered customer, owner: one answer, no token."""
    fresh = sign_up(client, shop)
    assert fresh.status_code == 201, fresh.text
    assert set(fresh.json()) == {"email", "status", "detail"}
    assert fresh.json()["status"] == "verification_pending"
    assert "token" not in fresh.text
    pending = register(client, shop)
    staff_entered = client.post(
        customers_url(shop), headers=shop["headers"], json={"email": email()}
    )
    assert staff_entered.status_code == 201, staff_entered.text
    for existing in (
        pending["email"],
        pending["email"].upper(),
        staff_entered.json()["email"],
        shop["owner"]["user"]["email"],
    ):
        answer = sign_up(client, shop, email=existing, password="An0ther-Passw0rd!")
        assert answer.status_code == fresh.status_code, answer.text
        assert answer.headers["content-type"] == fresh.headers["content-type"]
        assert _shape(answer.json()) == _shape(fresh.json())
        assert answer.json()["email"].lower() == existing.lower()  # domain normalised
    # The pending account kept its password, its session and its profile.
    problem(login(client, shop, pending["email"], "An0ther-Passw0rd!"), 401)
    assert login(client, shop, pending["email"], CUSTOMER_PASSWORD).status_code == 200
    me = client.get(f"{ACCOUNT}/me", headers=storefront(shop, pending["token"]))
    assert me.status_code == 200 and me.json()["first_name"] == "Ada"
    # The owner's email did not become a customer account.
    problem(login(client, shop, shop["owner"]["user"]["email"], "An0ther-Passw0rd!"), 401)
    # A weak password is refused before anything is looked up, for any email.
    for address in (email(), pending["email"]):
        problem(sign_up(client, shop, email=address, password="short"), 422, "password")
