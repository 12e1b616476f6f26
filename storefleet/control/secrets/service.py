"""Every encrypted column in the control plane, and re-encryption under the active key.

Each secret is bound to its row by associated data, so registering a column means saying
how its associated data is formed. Rotation rewrites one row at a time with a
compare-and-swap on the old ciphertext, so it is safe while the API serves and writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storefleet.control.secrets.models import PlatformSecret
from storefleet.security.keyring import Keyring


@dataclass(frozen=True)
class EncryptedColumn:
    table: str
    key_column: str
    value_column: str
    associated_data: Callable[[str], str]


ENCRYPTED_COLUMNS: list[EncryptedColumn] = [
    EncryptedColumn("platform_secrets", "name", "ciphertext", lambda k: f"platform_secrets:{k}"),
]


def register_encrypted_column(column: EncryptedColumn) -> None:
    if column not in ENCRYPTED_COLUMNS:
        ENCRYPTED_COLUMNS.append(column)


def _platform_secret_aad(name: str) -> str:
    return f"platform_secrets:{name}"


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


@dataclass
class RotationReport:
    rewritten: int = 0
    already_current: int = 0
    raced: int = 0


async def rotate_all(
    engine: AsyncEngine,
    keyring: Keyring,
    *,
    batch_size: int = 200,
    on_progress: Callable[[int], None] | None = None,
) -> RotationReport:
    """Re-encrypt every registered secret not under the active key."""
    report = RotationReport()
    for column in ENCRYPTED_COLUMNS:
        select_sql = text(
            f'SELECT "{column.key_column}"::text AS k, "{column.value_column}" AS v '  # noqa: S608
            f'FROM "{column.table}" WHERE "{column.key_column}"::text > :after '
            f'ORDER BY "{column.key_column}"::text LIMIT :limit'
        )
        update_sql = text(
            f'UPDATE "{column.table}" SET "{column.value_column}" = :new '  # noqa: S608
            f'WHERE "{column.key_column}"::text = :k AND "{column.value_column}" = :old'
        )
        after = ""
        while True:
            async with engine.begin() as conn:
                rows = (await conn.execute(select_sql, {"after": after, "limit": batch_size})).all()
            if not rows:
                break
            for row in rows:
                after = row.k
                if row.v is None or not keyring.needs_rotation(bytes(row.v)):
                    report.already_current += 1
                    continue
                aad = column.associated_data(row.k)
                plain = keyring.decrypt(bytes(row.v), aad.encode())
                new = keyring.encrypt(plain, aad.encode())
                async with engine.begin() as conn:
                    result = await conn.execute(
                        update_sql, {"new": new, "k": row.k, "old": bytes(row.v)}
                    )
                if result.rowcount == 1:
                    report.rewritten += 1
                else:
                    report.raced += 1
                if on_progress:
                    on_progress(1)
    return report


async def count_by_key_id(engine: AsyncEngine) -> Counter[str]:
    """How many stored secrets each key id protects (to know when a key can be removed)."""
    counts: Counter[str] = Counter()
    async with engine.connect() as conn:
        for column in ENCRYPTED_COLUMNS:
            rows = await conn.execute(
                text(
                    f'SELECT "{column.value_column}" FROM "{column.table}" '  # noqa: S608
                    f'WHERE "{column.value_column}" IS NOT NULL'
                )
            )
            for (value,) in rows:
                counts[Keyring.key_id_of(bytes(value))] += 1
    return counts
