"""Payment methods: CRUD, the keyring-encrypted secret, and the lookup checkout uses.

A method's secret (a Stripe secret key, say) is encrypted with the keyring, bound by its
associated data to the store and the method row, so a blob copied to another row or store
does not decrypt. It is never returned or logged; responses only say ``has_secret``.
The column is registered for key rotation: ``storefleet keys rotate`` re-encrypts it in
every store's own tenant session, and ``keys remove`` counts it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.payments.models import PaymentMethod, PaymentTransaction
from storefleet.control.secrets.registry import TenantEncryptedColumn, register_encrypted_column
from storefleet.db.constraints import flush
from storefleet.db.ids import uuid7
from storefleet.db.queries import get_or_404
from storefleet.errors import Conflict, InvalidInput
from storefleet.schemas import apply_changes, refuse_nulls
from storefleet.security.keyring import Keyring

METHOD_NOT_FOUND = "Payment method not found"
NEEDS_SECRET = ("stripe",)
NOT_NULL = ("code", "name", "instructions", "is_active", "position", "config")


def secret_aad(store_id: uuid.UUID, method_id: uuid.UUID) -> str:
    return f"payment_methods:{store_id}:{method_id}"


register_encrypted_column(
    TenantEncryptedColumn("payment_methods", "id", "secret_ciphertext", secret_aad)
)


def decrypt_secret(keyring: Keyring, method: PaymentMethod) -> str | None:
    """The plain secret, for the code that talks to the provider; never for a response."""
    if method.secret_ciphertext is None:
        return None
    return keyring.decrypt_text(
        bytes(method.secret_ciphertext), secret_aad(method.store_id, method.id)
    )


def _code_taken(code: str) -> Conflict:
    return Conflict(f"A payment method with code {code} already exists", field="code")


async def list_methods(session: AsyncSession, *, active_only: bool = False) -> list[PaymentMethod]:
    stmt = select(PaymentMethod).order_by(
        PaymentMethod.position, PaymentMethod.name, PaymentMethod.id
    )
    if active_only:
        stmt = stmt.where(PaymentMethod.is_active.is_(True))
    return list((await session.execute(stmt)).scalars())


async def get_method(
    session: AsyncSession, method_id: uuid.UUID, *, for_update: bool = False
) -> PaymentMethod:
    return await get_or_404(
        session, PaymentMethod, method_id, missing=METHOD_NOT_FOUND, lock=for_update
    )


async def active_method(session: AsyncSession, code: str) -> PaymentMethod:
    """The active method a checkout names; unknown or inactive → 422 on ``payment_method``."""
    method = (
        await session.execute(
            select(PaymentMethod).where(
                PaymentMethod.code == code, PaymentMethod.is_active.is_(True)
            )
        )
    ).scalar_one_or_none()
    if method is None:
        raise InvalidInput(
            f"payment method {code!r} is not available in this store", field="payment_method"
        )
    return method


async def create_method(
    session: AsyncSession, keyring: Keyring, store_id: uuid.UUID, values: dict[str, Any]
) -> PaymentMethod:
    secret = values.pop("secret", None)
    if values["provider"] in NEEDS_SECRET and not secret:
        raise InvalidInput(f"a {values['provider']} method needs its secret key", field="secret")
    if await session.scalar(select(PaymentMethod.id).where(PaymentMethod.code == values["code"])):
        raise _code_taken(values["code"])
    method_id = uuid7()
    method = PaymentMethod(store_id=store_id, id=method_id, **values)
    if secret:
        method.secret_ciphertext = keyring.encrypt_text(secret, secret_aad(store_id, method_id))
    session.add(method)
    await flush(session, _code_taken(values["code"]))
    await session.refresh(method)
    return method


async def update_method(
    session: AsyncSession, keyring: Keyring, method_id: uuid.UUID, changes: dict[str, Any]
) -> PaymentMethod:
    refuse_nulls(changes, NOT_NULL)
    method = await get_method(session, method_id, for_update=True)
    if "secret" in changes:
        secret = changes.pop("secret")
        if secret is None and method.provider in NEEDS_SECRET:
            raise InvalidInput(f"a {method.provider} method needs its secret key", field="secret")
        method.secret_ciphertext = (
            None
            if secret is None
            else keyring.encrypt_text(secret, secret_aad(method.store_id, method.id))
        )
    code = changes.get("code")
    if code is not None and code != method.code:
        taken = await session.scalar(
            select(PaymentMethod.id).where(
                PaymentMethod.code == code, PaymentMethod.id != method_id
            )
        )
        if taken:
            raise _code_taken(code)
    apply_changes(method, changes)
    await flush(session, _code_taken(str(code)))
    await session.refresh(method)
    return method


async def delete_method(session: AsyncSession, method_id: uuid.UUID) -> None:
    """Only unused methods: payment transactions are append-only and keep their method."""
    method = await get_method(session, method_id, for_update=True)
    used = await session.scalar(
        select(PaymentTransaction.id).where(PaymentTransaction.method_id == method_id).limit(1)
    )
    if used is not None:
        raise Conflict("This payment method has transactions; deactivate it instead")
    await session.delete(method)
    await session.flush()
