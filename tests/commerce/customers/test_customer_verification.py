"""Email verification of customer accounts in every placement: the token, what joins, notices."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from storefleet.commerce.customers import accounts, notices
from storefleet.commerce.users.models import TenantUser
from storefleet.config import Settings
from storefleet.errors import BadRequest
from storefleet.tenancy.scope import StoreScope
from tests.commerce.customers.test_customers import (
    ACCOUNT,
    ADDRESS,
    CUSTOMER_PASSWORD,
    NOTICES,
    Shop,
    call,
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
    shop,
    shops,
    sign_up,
    storefront,
    verify,
)

__all__ = ["shop", "shops"]  # fixtures
NEW_PASSWORD = "N3w-Owner-Secret!"


@pytest.fixture(autouse=True)
def _capture_notices(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    runtime_of(client).login_throttle.clear()
    caplog.set_level(logging.INFO, logger=NOTICES)


def user_row(client: TestClient, store: Shop, address: str) -> TenantUser:
    async def run() -> TenantUser:
        async with runtime_of(client).tenancy.session(uuid.UUID(store["id"]), write=False) as s:
            user = await accounts.find_user_by_email(s, address)
            assert user is not None
            return user

    return call(client, run)


def me(client: TestClient, store: Shop, token: str, suffix: str = "") -> Any:
    response = client.get(f"{ACCOUNT}/me{suffix}", headers=storefront(store, token))
    assert response.status_code == 200, response.text
    return response.json()


def test_token_is_stored_hashed_expires_and_works_once(
    client: TestClient, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    account = register(client, shop)
    [token] = issued_tokens(caplog, account["email"])
    user = user_row(client, shop, account["email"])
    assert user.email_verification_token == hashlib.sha256(token.encode()).hexdigest()
    assert user.email_verification_expires is not None
    left = user.email_verification_expires - datetime.now(UTC)
    assert timedelta(minutes=59) < left <= timedelta(hours=1)

    # Bad input names the field and consumes nothing.
    url = f"{ACCOUNT}/verify-email"
    problem(client.post(url, headers=storefront(shop), json={"token": token}), 422, "password")
    problem(verify(client, shop, token, "short"), 422, "password")
    problem(verify(client, shop, "abc", NEW_PASSWORD), 422, "token")
    problem(verify(client, shop, token[:-2] + "xx", NEW_PASSWORD), 400, "token")
    assert user_row(client, shop, account["email"]).email_verified is False

    verified = verify(client, shop, token, NEW_PASSWORD)
    assert verified.status_code == 200, verified.text
    assert verified.json()["customer"]["email_verified"] is True
    assert me(client, shop, verified.json()["token"])["email_verified"] is True
    # Earlier sessions end; the password is the one chosen on verifying.
    problem(client.get(f"{ACCOUNT}/me", headers=storefront(shop, account["token"])), 401)
    problem(login(client, shop, account["email"], CUSTOMER_PASSWORD), 401)
    assert login(client, shop, account["email"], NEW_PASSWORD).status_code == 200
    # Used once, then gone.
    problem(verify(client, shop, token, NEW_PASSWORD), 400, "token")
    user = user_row(client, shop, account["email"])
    assert user.email_verification_token is None and user.email_verification_expires is None

    # Expired: refused, the account stays unverified. Signing up again sends a fresh link and
    # the earlier one stops working.
    late = register(client, shop)
    [old] = issued_tokens(caplog, late["email"])
    expire_token(client, shop, late["email"])
    problem(verify(client, shop, old, NEW_PASSWORD), 400, "token")
    assert sign_up(client, shop, email=late["email"]).status_code == 201
    [_, fresh] = issued_tokens(caplog, late["email"])
    problem(verify(client, shop, old, NEW_PASSWORD), 400, "token")
    assert user_row(client, shop, late["email"]).email_verified is False
    assert verify(client, shop, fresh, NEW_PASSWORD).status_code == 200


def test_one_token_verifies_once_under_concurrency(
    client: TestClient, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    account = register(client, shop)
    [token] = issued_tokens(caplog, account["email"])
    tenancy = runtime_of(client).tenancy

    async def twice() -> list[Any]:
        placement = await tenancy.placement(uuid.UUID(shop["id"]))
        attempts = [
            accounts.verify_email(
                StoreScope(tenancy, placement), token=token, password=NEW_PASSWORD
            )
            for _ in range(2)
        ]
        return list(await asyncio.gather(*attempts, return_exceptions=True))

    results = call(client, twice)
    assert sum(isinstance(r, accounts.SignedIn) for r in results) == 1
    assert sum(isinstance(r, BadRequest) for r in results) == 1
    assert user_row(client, shop, account["email"]).token_version == 1


def test_verification_joins_guests_and_staff_entered_customers(
    client: TestClient, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    address = email("joined")
    h = shop["headers"]
    guest_id, order_id = guest_order(client, shop, address, first_name="Gus")
    guest_address = client.post(
        customers_url(shop, f"/{guest_id}/addresses"), headers=h, json=ADDRESS
    )
    assert guest_address.status_code == 201, guest_address.text
    entered = create_customer(
        client,
        shop,
        email=address.upper(),
        phone="+49 30 1234567",
        notes="prefers courier",
        tags=["vip"],
        customer_group="wholesale",
    )
    entered_address = client.post(
        customers_url(shop, f"/{entered['id']}/addresses"),
        headers=h,
        json={**ADDRESS, "line1": "Kontorweg 3"},
    )
    assert entered_address.status_code == 201, entered_address.text

    account = register(client, shop, email=address, first_name="Gustav", last_name="")
    own = client.post(
        f"{ACCOUNT}/me/addresses",
        headers=storefront(shop, account["token"]),
        json={**ADDRESS, "line1": "Eigenweg 9"},
    )
    assert own.status_code == 201, own.text
    _, own_order = guest_order(client, shop, address, account["customer"]["id"])
    # Unverified: only what the account did itself.
    assert [o["id"] for o in me(client, shop, account["token"], "/orders")["items"]] == [own_order]
    assert [a["id"] for a in me(client, shop, account["token"], "/addresses")["items"]] == [
        own.json()["id"]
    ]
    assert me(client, shop, account["token"])["phone"] is None
    assert client.get(customers_url(shop, f"/{guest_id}"), headers=h).json()["is_guest"] is True

    [token] = issued_tokens(caplog, address)
    verified = verify(client, shop, token, NEW_PASSWORD)
    assert verified.status_code == 200, verified.text
    signed_in = verified.json()["token"]
    joined = me(client, shop, signed_in, "/orders")["items"]
    assert sorted(o["id"] for o in joined) == sorted([order_id, own_order])
    addresses = me(client, shop, signed_in, "/addresses")["items"]
    assert {a["id"] for a in addresses} == {
        own.json()["id"],
        guest_address.json()["id"],
        entered_address.json()["id"],
    }
    # The account's own defaults stay; moved addresses give theirs up.
    for flag in ("is_default_shipping", "is_default_billing"):
        assert [a["id"] for a in addresses if a[flag]] == [own.json()["id"]]
    profile = me(client, shop, signed_in)
    assert profile["first_name"] == "Gustav" and profile["phone"] == "+49 30 1234567"
    admin = client.get(customers_url(shop, f"/{account['customer']['id']}"), headers=h).json()
    assert admin["tags"] == ["vip"] and admin["notes"] == "prefers courier"
    assert admin["customer_group"] == "wholesale"
    # The emptied rows are gone from the admin's list; one customer has this email now.
    for gone in (guest_id, entered["id"]):
        problem(client.get(customers_url(shop, f"/{gone}"), headers=h), 404)
    listed = client.get(customers_url(shop), headers=h, params={"q": address}).json()
    assert [c["id"] for c in listed["items"]] == [account["customer"]["id"]]


def test_staff_changing_the_email_needs_a_new_verification(
    client: TestClient, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    account = register(client, shop)
    [token] = issued_tokens(caplog, account["email"])
    url = customers_url(shop, f"/{account['customer']['id']}")
    moved = client.patch(url, headers=shop["headers"], json={"email": email("moved")})
    assert moved.status_code == 200, moved.text
    # The link went to the old address: it cannot verify the new one.
    problem(verify(client, shop, token, NEW_PASSWORD), 400, "token")
    assert me(client, shop, account["token"])["email_verified"] is False

    other = register(client, shop)
    [token] = issued_tokens(caplog, other["email"])
    signed_in = verify(client, shop, token, NEW_PASSWORD).json()["token"]
    assert me(client, shop, signed_in)["email_verified"] is True
    url = customers_url(shop, f"/{other['customer']['id']}")
    # A change of letter case is the same address; a new address is unproven again.
    same = client.patch(url, headers=shop["headers"], json={"email": other["email"].upper()})
    assert same.status_code == 200, same.text
    assert me(client, shop, signed_in)["email_verified"] is True
    assert client.patch(url, headers=shop["headers"], json={"email": email()}).status_code == 200
    assert me(client, shop, signed_in)["email_verified"] is False


def test_notices_log_the_token_only_outside_production(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store_id, user_id, secret = uuid.uuid4(), uuid.uuid4(), "tok-" + "s" * 40
    address = "owner@example.com"
    for environment in ("production", "development"):
        caplog.clear()
        settings = Settings(environment=environment)  # type: ignore[arg-type]
        notices.verification_issued(
            settings, store_id=store_id, user_id=user_id, email=address, token=secret
        )
        notices.registration_attempted(settings, store_id=store_id, email=address)
        records = [r for r in caplog.records if r.name == NOTICES]
        assert len(records) == 2
        text = " ".join(r.getMessage() for r in records)
        if environment == "production":
            assert secret not in text and address not in text
            assert not any(hasattr(r, "verification_token") for r in records)
        else:
            assert secret in text and records[0].verification_token == secret
