"""A store's own Stripe keys (onboarding step "Setup Stripe"), encrypted at rest.

The secret key and webhook secret are one keyring blob bound to the store by associated
data, so a blob copied onto another store's row does not decrypt. The column is registered
for key rotation. Only the publishable key (public by design) ever leaves this module.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.audit import service as audit
from storefleet.control.billing.models import StorePaymentCredential
from storefleet.control.secrets.service import EncryptedColumn, register_encrypted_column
from storefleet.errors import InvalidInput, NotFound
from storefleet.security.keyring import Keyring

TABLE = "store_payment_credentials"
MAX_KEY_LENGTH = 255


def _aad(store_id: uuid.UUID | str) -> str:
    return f"{TABLE}:{store_id}"


register_encrypted_column(EncryptedColumn(TABLE, "store_id", "ciphertext", _aad))


@dataclass(frozen=True)
class StripeKeysStatus:
    configured: bool
    publishable_key: str | None = None
    livemode: bool | None = None


@dataclass(frozen=True)
class StoreStripeKeys:
    """Decrypted keys, for the store's own checkout. Kept in memory only; repr hides them."""

    publishable_key: str
    secret_key: str
    webhook_secret: str | None
    livemode: bool

    def __repr__(self) -> str:
        return f"StoreStripeKeys({self.publishable_key!r}, livemode={self.livemode})"


def _mode(value: str, field: str, prefixes: tuple[str, ...]) -> bool:
    """True for a live key, False for a test key; 422 naming the field otherwise."""
    if (
        not value
        or len(value) > MAX_KEY_LENGTH
        or not value.isascii()
        or not value.isprintable()
        or any(c.isspace() for c in value)
    ):
        raise InvalidInput(f"{field} is not a Stripe key", field=field)
    for prefix in prefixes:
        for mode in ("live", "test"):
            if value.startswith(f"{prefix}{mode}_") and len(value) > len(prefix) + len(mode) + 1:
                return mode == "live"
    expected = " or ".join(f"{p}test_/{p}live_" for p in prefixes)
    raise InvalidInput(f"{field} must start with {expected}", field=field)


async def put_stripe_keys(
    session: AsyncSession,
    keyring: Keyring,
    store_id: uuid.UUID,
    *,
    secret_key: str,
    publishable_key: str,
    webhook_secret: str | None,
    actor_id: uuid.UUID,
) -> StripeKeysStatus:
    live = _mode(secret_key, "secret_key", ("sk_", "rk_"))
    if _mode(publishable_key, "publishable_key", ("pk_",)) != live:
        raise InvalidInput(
            "publishable_key and secret_key must both be test keys or both live keys",
            field="publishable_key",
        )
    if webhook_secret is not None and (
        not webhook_secret.startswith("whsec_")
        or len(webhook_secret) > MAX_KEY_LENGTH
        or not webhook_secret.isascii()
        or any(c.isspace() or not c.isprintable() for c in webhook_secret)
    ):
        raise InvalidInput("webhook_secret must start with whsec_", field="webhook_secret")
    blob = keyring.encrypt_text(
        json.dumps({"secret_key": secret_key, "webhook_secret": webhook_secret}), _aad(store_id)
    )
    row = await session.get(StorePaymentCredential, store_id, with_for_update=True)
    if row is None:
        row = StorePaymentCredential(store_id=store_id, provider="stripe")
        session.add(row)
    row.publishable_key = publishable_key
    row.livemode = live
    row.ciphertext = blob
    await session.flush()
    await audit.record(
        session,
        action="store.stripe_keys_set",
        entity_type="store",
        entity_id=store_id,
        actor_id=actor_id,
        actor_label="owner",
        after={"publishable_key": publishable_key, "livemode": live},
    )
    return StripeKeysStatus(True, publishable_key, live)


async def stripe_keys_status(session: AsyncSession, store_id: uuid.UUID) -> StripeKeysStatus:
    row = await session.get(StorePaymentCredential, store_id)
    if row is None:
        return StripeKeysStatus(False)
    return StripeKeysStatus(True, row.publishable_key, row.livemode)


async def load_stripe_keys(
    session: AsyncSession, keyring: Keyring, store_id: uuid.UUID
) -> StoreStripeKeys:
    """The store's keys for its own checkout payments (never for an API response)."""
    row = await session.get(StorePaymentCredential, store_id)
    if row is None:
        raise NotFound("This store has not set up Stripe")
    secrets = json.loads(keyring.decrypt_text(row.ciphertext, _aad(store_id)))
    return StoreStripeKeys(
        publishable_key=row.publishable_key,
        secret_key=secrets["secret_key"],
        webhook_secret=secrets.get("webhook_secret"),
        livemode=row.livemode,
    )


async def delete_stripe_keys(
    session: AsyncSession, store_id: uuid.UUID, *, actor_id: uuid.UUID
) -> bool:
    result = await session.execute(
        delete(StorePaymentCredential).where(StorePaymentCredential.store_id == store_id)
    )
    removed = bool(getattr(result, "rowcount", 0))
    if removed:
        await audit.record(
            session,
            action="store.stripe_keys_removed",
            entity_type="store",
            entity_id=store_id,
            actor_id=actor_id,
            actor_label="owner",
        )
    return removed
