"""What each role inside a store may do: the one table every admin route is checked against.

A store's people are its owner (the platform account that owns it, mirrored in the tenant
``users`` table), its admins and its staff. Every admin route names one permission; a role
holds it or the call is refused with 403 before anything is read or written. Staff run the
shop floor (catalog, stock, customers, fulfilment); money leaving or arriving by hand,
payment secrets, credits, people and the store's settings are for the owner and admins.
Owner-only permissions are about the store itself in the control plane (its existence,
where its data lives, its hostnames, its plan, its Stripe keys) and belong to the owning
account alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from storefleet.errors import PermissionDenied

OWNER = "owner"
ADMIN = "admin"
STAFF = "staff"
STORE_ROLES = (OWNER, ADMIN, STAFF)


class Permission(StrEnum):
    STORE_VIEW = "store.view"
    SETTINGS_MANAGE = "settings.manage"
    STAFF_VIEW = "staff.view"
    STAFF_MANAGE = "staff.manage"
    CATALOG_MANAGE = "catalog.manage"
    PRICING_VIEW = "pricing.view"
    PRICING_MANAGE = "pricing.manage"
    INVENTORY_MANAGE = "inventory.manage"
    CUSTOMERS_MANAGE = "customers.manage"
    TAX_SHIPPING_VIEW = "tax_shipping.view"
    TAX_SHIPPING_MANAGE = "tax_shipping.manage"
    PAYMENTS_MANAGE = "payments.manage"
    DISCOUNTS_VIEW = "discounts.view"
    DISCOUNTS_MANAGE = "discounts.manage"
    ORDERS_VIEW = "orders.view"
    ORDERS_FULFIL = "orders.fulfil"
    ORDERS_CANCEL = "orders.cancel"
    ORDERS_MARK_PAID = "orders.mark_paid"
    ORDERS_REFUND = "orders.refund"
    BILLING_VIEW = "billing.view"
    CREDITS_SPEND = "credits.spend"
    SUBSCRIPTION_MANAGE = "subscription.manage"
    STRIPE_KEYS_MANAGE = "stripe_keys.manage"
    HOSTNAMES_MANAGE = "hostnames.manage"
    PLACEMENT_MANAGE = "placement.manage"
    STORE_MANAGE = "store.manage"
    STORE_DELETE = "store.delete"


_EVERYONE = frozenset(STORE_ROLES)
_MANAGERS = frozenset((OWNER, ADMIN))
_OWNER = frozenset((OWNER,))

ROLES_WITH: Mapping[Permission, frozenset[str]] = MappingProxyType(
    {
        Permission.STORE_VIEW: _EVERYONE,
        Permission.SETTINGS_MANAGE: _MANAGERS,
        Permission.STAFF_VIEW: _EVERYONE,
        Permission.STAFF_MANAGE: _MANAGERS,
        Permission.CATALOG_MANAGE: _EVERYONE,
        Permission.PRICING_VIEW: _EVERYONE,
        Permission.PRICING_MANAGE: _MANAGERS,
        Permission.INVENTORY_MANAGE: _EVERYONE,
        Permission.CUSTOMERS_MANAGE: _EVERYONE,
        Permission.TAX_SHIPPING_VIEW: _EVERYONE,
        Permission.TAX_SHIPPING_MANAGE: _MANAGERS,
        Permission.PAYMENTS_MANAGE: _MANAGERS,
        Permission.DISCOUNTS_VIEW: _EVERYONE,
        Permission.DISCOUNTS_MANAGE: _MANAGERS,
        Permission.ORDERS_VIEW: _EVERYONE,
        Permission.ORDERS_FULFIL: _EVERYONE,
        Permission.ORDERS_CANCEL: _MANAGERS,
        Permission.ORDERS_MARK_PAID: _MANAGERS,
        Permission.ORDERS_REFUND: _MANAGERS,
        Permission.BILLING_VIEW: _MANAGERS,
        Permission.CREDITS_SPEND: _MANAGERS,
        Permission.SUBSCRIPTION_MANAGE: _OWNER,
        Permission.STRIPE_KEYS_MANAGE: _OWNER,
        Permission.HOSTNAMES_MANAGE: _OWNER,
        Permission.PLACEMENT_MANAGE: _OWNER,
        Permission.STORE_MANAGE: _OWNER,
        Permission.STORE_DELETE: _OWNER,
    }
)


def allows(role: str, permission: Permission) -> bool:
    return role in ROLES_WITH[permission]


def owner_only(permission: Permission) -> bool:
    return ROLES_WITH[permission] == _OWNER


def require(role: str, permission: Permission) -> None:
    """Refuse with 403, naming the permission and who holds it, unless ``role`` holds it."""
    if not allows(role, permission):
        holders = ", ".join(r for r in STORE_ROLES if r in ROLES_WITH[permission])
        raise PermissionDenied(
            f"The {role} role cannot do this: {permission} is for {holders}",
            permission=str(permission),
        )
