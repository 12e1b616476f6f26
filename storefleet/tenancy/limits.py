"""How long request work may hold a store's connections, and how owner databases are met."""

from __future__ import annotations

from dataclasses import dataclass, field

from storefleet.config import Settings
from storefleet.db.foreign import ForeignPolicy, milliseconds


@dataclass(frozen=True)
class TenantLimits:
    """Per-transaction limits of request work in a store, and how owner databases are met."""

    statement_timeout: float = 30.0
    lock_timeout: float = 10.0
    foreign: ForeignPolicy = field(default_factory=ForeignPolicy)
    allow_private: bool = False
    address_ttl: float = 300.0
    move_statement_timeout: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> TenantLimits:
        return cls(
            statement_timeout=settings.tenant_statement_timeout_seconds,
            lock_timeout=settings.tenant_lock_timeout_seconds,
            foreign=ForeignPolicy.from_settings(settings),
            allow_private=settings.private_databases_allowed,
            address_ttl=settings.owner_address_ttl_seconds,
            move_statement_timeout=settings.move_statement_timeout_seconds,
        )

    def enter_params(self) -> dict[str, str]:
        return {
            "statement_timeout": str(milliseconds(self.statement_timeout)),
            "lock_timeout": str(milliseconds(self.lock_timeout)),
        }
