"""Payment methods: write-only encrypted secrets, CRUD and checkout lookup, every placement."""

from __future__ import annotations

import logging
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from storefleet.commerce.payments import service as payments
from storefleet.commerce.payments.models import PaymentMethod
from storefleet.errors import InvalidInput
from storefleet.security.keyring import DecryptionError
from tests.commerce.admin_api import Shop, post, url
from tests.commerce.customers.test_customers import call, problem, runtime_of

# -- payment methods -----------------------------------------------------------------------


def test_payment_method_secret_is_write_only_and_encrypted(
    client: TestClient, shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    h = shop["headers"]
    secret = f"sk_test_{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    created = client.post(
        url(shop, "/payment-methods"),
        headers=h,
        json={
            "code": "stripe",
            "provider": "stripe",
            "name": "Card",
            "config": {"publishable_key": "pk_test_1"},
            "secret": secret,
        },
    )
    assert created.status_code == 201, created.text
    method = created.json()
    assert method["has_secret"] is True and "secret" not in method
    assert "secret_ciphertext" not in method
    responses = [
        created,
        client.get(url(shop, "/payment-methods"), headers=h),
        client.get(url(shop, f"/payment-methods/{method['id']}"), headers=h),
        client.patch(
            url(shop, f"/payment-methods/{method['id']}"), headers=h, json={"name": "Cards"}
        ),
        client.post(
            url(shop, "/payment-methods"),
            headers=h,
            json={"code": "stripe", "provider": "stripe", "name": "Dup", "secret": secret},
        ),
        client.post(
            url(shop, "/payment-methods"),
            headers=h,
            json={"code": "x", "provider": "bogus", "name": "X", "secret": secret},
        ),
    ]
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 409, 422]
    for response in responses:
        assert secret not in response.text
    assert secret not in caplog.text
    for record in caplog.records:
        assert secret not in record.getMessage()

    async def stored() -> tuple[bytes, str | None, uuid.UUID]:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop["id"]), write=False) as s:
            row = (
                await s.execute(
                    select(PaymentMethod).where(PaymentMethod.id == uuid.UUID(method["id"]))
                )
            ).scalar_one()
            assert row.secret_ciphertext is not None
            return (
                bytes(row.secret_ciphertext),
                payments.decrypt_secret(runtime_of(client).keyring, row),
                row.id,
            )

    blob, plain, method_id = call(client, stored)
    assert secret.encode() not in blob
    assert plain == secret
    keyring = runtime_of(client).keyring
    assert keyring.decrypt_text(blob, f"payment_methods:{shop['id']}:{method_id}") == secret
    for wrong in (
        f"payment_methods:{uuid.uuid4()}:{method_id}",
        f"payment_methods:{shop['id']}:{uuid.uuid4()}",
    ):
        with pytest.raises(DecryptionError):
            keyring.decrypt_text(blob, wrong)

    # Replacing the secret re-encrypts; a Stripe method cannot drop it; others can.
    rotated = client.patch(
        url(shop, f"/payment-methods/{method['id']}"), headers=h, json={"secret": "sk_test_new"}
    )
    assert rotated.status_code == 200 and "sk_test_new" not in rotated.text
    assert call(client, stored)[1] == "sk_test_new"
    problem(
        client.patch(
            url(shop, f"/payment-methods/{method['id']}"), headers=h, json={"secret": None}
        ),
        422,
        "secret",
    )
    problem(
        client.post(
            url(shop, "/payment-methods"),
            headers=h,
            json={"code": "s2", "provider": "stripe", "name": "S"},
        ),
        422,
        "secret",
    )
    problem(
        client.post(
            url(shop, "/payment-methods"),
            headers=h,
            json={
                "code": "s3",
                "provider": "manual",
                "name": "S",
                "config": {"secret_key": secret},
            },
        ),
        422,
        "config",
    )
    assert (
        client.delete(url(shop, f"/payment-methods/{method['id']}"), headers=h).status_code == 204
    )


def test_payment_methods_crud_and_checkout_lookup(client: TestClient, shop: Shop) -> None:
    h = shop["headers"]
    bank = post(
        client,
        shop,
        "/payment-methods",
        {
            "code": "bank",
            "provider": "bank_transfer",
            "name": "Bank",
            "instructions": "IBAN DE00",
            "secret": "x-api",
        },
    )
    assert bank["has_secret"] is True and bank["instructions"] == "IBAN DE00"
    cleared = client.patch(
        url(shop, f"/payment-methods/{bank['id']}"), headers=h, json={"secret": None}
    )
    assert cleared.status_code == 200 and cleared.json()["has_secret"] is False
    cod = post(
        client,
        shop,
        "/payment-methods",
        {"code": "cod", "provider": "cash_on_delivery", "name": "COD", "is_active": False},
    )
    problem(
        client.patch(url(shop, f"/payment-methods/{cod['id']}"), headers=h, json={"code": "bank"}),
        409,
        "code",
    )

    async def lookup(method_code: str) -> str:
        async with runtime_of(client).tenancy.session(uuid.UUID(shop["id"]), write=False) as s:
            try:
                return (await payments.active_method(s, method_code)).provider
            except InvalidInput as exc:
                return f"invalid:{exc.field}"

    assert call(client, lookup, "bank") == "bank_transfer"
    assert call(client, lookup, "cod") == "invalid:payment_method"
    assert call(client, lookup, "nope") == "invalid:payment_method"
    listed = client.get(url(shop, "/payment-methods"), headers=h).json()["items"]
    assert {m["code"] for m in listed} == {"bank", "cod"}
    for m in listed:
        assert client.delete(url(shop, f"/payment-methods/{m['id']}"), headers=h).status_code == 204
    problem(client.get(url(shop, f"/payment-methods/{bank['id']}"), headers=h), 404)
