"""Every tenant model, imported in one place for the tenant Alembic history and provisioning."""

from storefleet.commerce.store.models import StoreConfig, StoreProfile
from storefleet.commerce.users.models import TenantUser
from storefleet.tenancy.base import TenantBase

__all__ = ["StoreConfig", "StoreProfile", "TenantBase", "TenantUser"]
