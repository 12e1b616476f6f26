"""The credentials of a database a store's owner brings, encrypted in its placement row."""

from __future__ import annotations

import json
import uuid

from sqlalchemy.engine import URL

from storefleet.db.foreign import unmanaged
from storefleet.security.keyring import Keyring


def external_credentials_aad(store_id: uuid.UUID) -> str:
    return f"store_databases:{store_id}:credentials"


def encrypt_external_credentials(
    keyring: Keyring,
    store_id: uuid.UUID,
    url: URL,
    app_role: str | None,
    app_password: str | None,
) -> bytes:
    """The owner's URL as they gave it (our pinned addresses and limits are re-derived
    on every use, never stored), with the store's request role when there is one."""
    payload = {"url": unmanaged(url).render_as_string(hide_password=False)}
    if app_role and app_password:
        payload["app_role"] = app_role
        payload["app_password"] = app_password
    return keyring.encrypt_text(json.dumps(payload), external_credentials_aad(store_id))


def decrypt_external_credentials(
    keyring: Keyring, store_id: uuid.UUID, ciphertext: bytes
) -> dict[str, str]:
    creds: dict[str, str] = json.loads(
        keyring.decrypt_text(ciphertext, external_credentials_aad(store_id))
    )
    return creds
