"""Every control-plane model, imported in one place for Alembic and for tests."""

from storefleet.control.accounts.models import Account, LoginFailure, RevokedToken
from storefleet.control.audit.models import AuditEntry
from storefleet.control.billing.models import (
    BillingTransaction,
    Plan,
    ProviderEvent,
    StorePaymentCredential,
    Subscription,
)
from storefleet.control.credits.models import (
    CreditBalance,
    CreditOutbox,
    CreditTransaction,
    ServiceCreditCost,
)
from storefleet.control.hostnames.models import StoreHostname
from storefleet.control.placements.models import StoreDatabase, StoreMove, TenantMigrationFile
from storefleet.control.secrets.models import PlatformSecret
from storefleet.control.servers.models import DatabaseServer
from storefleet.control.stores.models import Store
from storefleet.control.usage.models import ApiUsageLog, RateCounter, UsageMetric
from storefleet.db.base import ControlBase

__all__ = [
    "Account",
    "ApiUsageLog",
    "AuditEntry",
    "BillingTransaction",
    "ControlBase",
    "CreditBalance",
    "CreditOutbox",
    "CreditTransaction",
    "DatabaseServer",
    "LoginFailure",
    "Plan",
    "PlatformSecret",
    "ProviderEvent",
    "RateCounter",
    "RevokedToken",
    "ServiceCreditCost",
    "Store",
    "StoreDatabase",
    "StoreHostname",
    "StoreMove",
    "StorePaymentCredential",
    "Subscription",
    "TenantMigrationFile",
    "UsageMetric",
]
