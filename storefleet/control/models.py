"""Every control-plane model, imported in one place for Alembic and for tests."""

from storefleet.control.accounts.models import Account, RevokedToken
from storefleet.control.audit.models import AuditEntry
from storefleet.control.secrets.models import PlatformSecret
from storefleet.control.stores.models import Store
from storefleet.db.base import ControlBase

__all__ = ["Account", "AuditEntry", "ControlBase", "PlatformSecret", "RevokedToken", "Store"]
