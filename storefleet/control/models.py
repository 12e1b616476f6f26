"""Every control-plane model, imported in one place for Alembic and for tests."""

from storefleet.control.accounts.models import Account, RevokedToken
from storefleet.control.audit.models import AuditEntry
from storefleet.control.hostnames.models import StoreHostname
from storefleet.control.secrets.models import PlatformSecret
from storefleet.control.servers.models import DatabaseServer
from storefleet.control.stores.models import Store
from storefleet.db.base import ControlBase
from storefleet.tenancy.models import StoreDatabase, StoreMove, TenantMigrationFile

__all__ = [
    "Account",
    "AuditEntry",
    "ControlBase",
    "DatabaseServer",
    "PlatformSecret",
    "RevokedToken",
    "Store",
    "StoreDatabase",
    "StoreHostname",
    "StoreMove",
    "TenantMigrationFile",
]
