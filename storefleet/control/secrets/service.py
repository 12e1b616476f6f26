"""Platform secrets (payment provider keys and the like), encrypted with the keyring.

``EncryptedColumn`` and ``register_encrypted_column`` are re-exported from the registry,
where every encrypted column (control plane and tenant) is declared for key rotation.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storefleet.control.secrets.models import PlatformSecret
from storefleet.control.secrets.registry import (
    ENCRYPTED_COLUMNS,
    EncryptedColumn,
    TenantEncryptedColumn,
    register_encrypted_column,
)
from storefleet.control.secrets.rotation import count_control_plane
from storefleet.security.keyring import Keyring

__all__ = [
    "ENCRYPTED_COLUMNS",
    "EncryptedColumn",
    "TenantEncryptedColumn",
    "count_by_key_id",
    "get_platform_secret",
    "put_platform_secret",
    "register_encrypted_column",
]


def _platform_secret_aad(name: str) -> str:
    return f"platform_secrets:{name}"


register_encrypted_column(
    EncryptedColumn("platform_secrets", "name", "ciphertext", _platform_secret_aad)
)


async def put_platform_secret(
    session: AsyncSession, keyring: Keyring, name: str, value: str
) -> None:
    blob = keyring.encrypt_text(value, _platform_secret_aad(name))
    row = await session.get(PlatformSecret, name)
    if row is None:
        session.add(PlatformSecret(name=name, ciphertext=blob))
    else:
        row.ciphertext = blob
    await session.flush()


async def get_platform_secret(session: AsyncSession, keyring: Keyring, name: str) -> str | None:
    row = await session.get(PlatformSecret, name)
    if row is None:
        return None
    return keyring.decrypt_text(row.ciphertext, _platform_secret_aad(name))


async def count_by_key_id(engine: AsyncEngine) -> Counter[str]:
    """Secrets per key id in the control plane only; ``rotation.key_usage`` adds every store."""
    return (await count_control_plane(engine)).by_key()
