"""The one registry of encrypted columns, control plane and tenant, that key rotation walks.

Each secret is bound to its row by associated data, so registering a column means saying
how its associated data is formed: from the row's key in the control plane, from the store
and the row's key in tenant data. A column that is not registered would keep its old key
after ``keys rotate`` and be lost by ``keys remove``, so :func:`complete_registry` refuses
to hand out the registry while any binary column of either plane is left out.
"""

from __future__ import annotations

import importlib
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import LargeBinary, MetaData

from storefleet.control.placements.credentials import external_credentials_aad
from storefleet.security.keyring import FORMAT_VERSION

_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")

# The modules whose import registers a column. A fresh process (``storefleet keys ...``)
# imports them all before walking, and a test checks that nothing else registers.
REGISTERING_MODULES = (
    "storefleet.control.secrets.service",
    "storefleet.control.billing.credentials",
    "storefleet.control.servers.service",
    "storefleet.commerce.payments.service",
)
# Every model of both planes, for the check that no binary column is left out.
MODEL_MODULES = ("storefleet.control.models", "storefleet.commerce.models")


def _checked(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"{name!r} is not a plain lower-case SQL identifier")
    return name


@dataclass(frozen=True)
class EncryptedColumn:
    """A control-plane column; its associated data comes from the row's key."""

    table: str
    key_column: str
    value_column: str
    associated_data: Callable[[Any], str]

    def __post_init__(self) -> None:
        for name in (self.table, self.key_column, self.value_column):
            _checked(name)

    @property
    def label(self) -> str:
        return f"{self.table}.{self.value_column}"


@dataclass(frozen=True)
class TenantEncryptedColumn:
    """A column of the tenant schema, in every store's data whatever its placement.

    Its associated data comes from the store and the row's key; it is only ever read and
    written inside that store's tenant session.
    """

    table: str
    key_column: str
    value_column: str
    associated_data: Callable[[uuid.UUID, Any], str]

    def __post_init__(self) -> None:
        for name in (self.table, self.key_column, self.value_column):
            _checked(name)

    @property
    def label(self) -> str:
        return f"{self.table}.{self.value_column}"


AnyEncryptedColumn = EncryptedColumn | TenantEncryptedColumn


ENCRYPTED_COLUMNS: list[AnyEncryptedColumn] = [
    EncryptedColumn(
        "store_databases", "store_id", "credentials_ciphertext", external_credentials_aad
    ),
]


def register_encrypted_column(column: AnyEncryptedColumn) -> None:
    if column not in ENCRYPTED_COLUMNS:
        ENCRYPTED_COLUMNS.append(column)


# A binary column that holds no secret (a digest, say) names why in its ``info`` under this
# key, and is not asked to be registered.
PLAIN_BINARY = "plain_binary"


class UnregisteredColumnError(RuntimeError):
    """A binary column nobody registered: rotating now would leave it on the old key."""


def unregistered_columns(control: MetaData, tenant: MetaData) -> list[str]:
    """``table.column`` of every binary column of either plane missing from the registry
    (except those that say in ``info[PLAIN_BINARY]`` why they hold no secret)."""
    registered = {
        (isinstance(c, TenantEncryptedColumn), c.table, c.value_column) for c in ENCRYPTED_COLUMNS
    }
    missing = []
    for is_tenant, metadata in ((False, control), (True, tenant)):
        for table in metadata.tables.values():
            for column in table.columns:
                if (
                    isinstance(column.type, LargeBinary)
                    and not column.info.get(PLAIN_BINARY)
                    and (is_tenant, table.name, column.name) not in registered
                ):
                    missing.append(f"{table.name}.{column.name}")
    return sorted(missing)


def complete_registry() -> list[AnyEncryptedColumn]:
    """Every encrypted column, after importing every module that registers one."""
    for module in (*MODEL_MODULES, *REGISTERING_MODULES):
        importlib.import_module(module)
    from storefleet.db.base import ControlBase
    from storefleet.tenancy.base import TenantBase

    missing = unregistered_columns(ControlBase.metadata, TenantBase.metadata)
    if missing:
        raise UnregisteredColumnError(
            f"binary columns not registered for key rotation: {', '.join(missing)}; "
            "register each with register_encrypted_column"
        )
    return list(ENCRYPTED_COLUMNS)


def control_columns(columns: Iterable[AnyEncryptedColumn]) -> list[EncryptedColumn]:
    return [c for c in columns if isinstance(c, EncryptedColumn)]


def tenant_columns(columns: Iterable[AnyEncryptedColumn]) -> list[TenantEncryptedColumn]:
    return [c for c in columns if isinstance(c, TenantEncryptedColumn)]


def key_header(key_id: str) -> bytes:
    """The first bytes of every blob encrypted under ``key_id`` (see ``keyring``)."""
    kid = key_id.encode("ascii")
    return bytes([FORMAT_VERSION, len(kid)]) + kid


def key_id_sql(value_column: str) -> str:
    """SQL for the key id in a blob's header; NULL for a blob that has no valid header.

    CASE evaluates its branches in order, so ``get_byte`` never sees a too-short blob.
    """
    v = f'"{_checked(value_column)}"'
    return (
        f"CASE WHEN length({v}) < 2 THEN NULL "
        f"WHEN get_byte({v}, 0) <> {FORMAT_VERSION} THEN NULL "
        f"ELSE encode(substring({v} FROM 3 FOR get_byte({v}, 1)), 'escape') END"
    )


def not_under_key_sql(value_column: str) -> str:
    """SQL that is true for a stored blob not encrypted under the key whose header is
    ``:header`` (of length ``:header_length``): the rows rotation still has to rewrite."""
    v = f'"{_checked(value_column)}"'
    return f"{v} IS NOT NULL AND substring({v} FROM 1 FOR :header_length) <> :header"
