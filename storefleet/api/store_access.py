"""Who may act on a store, and what they may do there.

A caller is the store's owner (a platform account, checked in the control plane) or one of
its admins and staff (tenant ``users``). Every admin route takes exactly one of the
``Can…`` dependencies below, each naming a permission from
``storefleet.commerce.users.permissions``: another store answers 404 like a missing one, a
member of this store without the permission 403, and only then does the route run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request

from storefleet.api.deps import AnyClaims, RuntimeDep
from storefleet.api.unit_of_work import authorize_store
from storefleet.commerce.users import permissions
from storefleet.commerce.users import service as staff
from storefleet.commerce.users.permissions import Permission
from storefleet.control.accounts import service as accounts
from storefleet.control.accounts.models import Account
from storefleet.control.stores import service as stores
from storefleet.errors import Locked, NotFound, PermissionDenied
from storefleet.runtime import Runtime
from storefleet.security.tokens import TokenClaims
from storefleet.tenancy.placement import StorePlacement
from storefleet.tenancy.scope import StoreScope


@dataclass(frozen=True)
class StoreContext:
    store_id: uuid.UUID
    placement: StorePlacement
    role: str
    actor_id: uuid.UUID
    account: Account | None

    @property
    def actor_label(self) -> str:
        return f"{self.role}:{self.actor_id}"


def check_store_usable(placement: StorePlacement) -> None:
    if placement.store_status == "deleted":
        raise NotFound(stores.STORE_NOT_FOUND)
    if placement.store_status == "suspended":
        raise Locked("This store is suspended")


async def _owner_account(runtime: Runtime, claims: TokenClaims, store_id: uuid.UUID) -> Account:
    """The platform account behind ``claims``, which must own the live store ``store_id``."""
    async with runtime.control_sessions() as session:
        account = await accounts.account_for_claims(session, claims)
        await stores.owned_store(session, account, store_id)
    return account


async def _member(
    runtime: Runtime, claims: TokenClaims, store_id: uuid.UUID, *, suspended_ok: bool
) -> StoreContext:
    """The owner, an admin or a staff member of ``store_id``; any other store answers 404.

    The owner check is one short control-plane transaction; the staff check one read in
    the store. Neither stays open while the route works. ``suspended_ok`` lets the owner
    act on a suspended store (to pay for it, move it or delete it); staff never can.
    """
    if claims.account_type in accounts.PLATFORM_ACCOUNT_TYPES:
        account = await _owner_account(runtime, claims, store_id)
        placement = await runtime.tenancy.placement(store_id)
        if not suspended_ok:
            check_store_usable(placement)
        return StoreContext(store_id, placement, permissions.OWNER, account.id, account)
    if claims.store_id != str(store_id):
        raise NotFound(stores.STORE_NOT_FOUND)
    if claims.account_type != "staff":
        raise PermissionDenied("Only the store's owner and staff can use this route")
    try:
        placement = await runtime.tenancy.placement(store_id)
    except NotFound:
        raise NotFound(stores.STORE_NOT_FOUND) from None
    check_store_usable(placement)
    async with StoreScope(runtime.tenancy, placement).read() as s:
        user = await staff.staff_for_token(s, uuid.UUID(claims.sub), claims.ver)
    return StoreContext(store_id, placement, user.role, user.id, None)


class StorePermission:
    """The dependency of an admin route: the caller holds ``permission`` in the path's store."""

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __repr__(self) -> str:
        return f"StorePermission({self.permission})"

    async def __call__(
        self,
        request: Request,
        store_id: Annotated[uuid.UUID, Path()],
        runtime: RuntimeDep,
        claims: AnyClaims,
    ) -> StoreContext:
        owner_only = permissions.owner_only(self.permission)
        ctx = await _member(runtime, claims, store_id, suspended_ok=owner_only)
        permissions.require(ctx.role, self.permission)
        authorize_store(request, ctx.placement)
        return ctx


def _can(permission: Permission) -> Any:
    return Depends(StorePermission(permission))


CanViewStore = Annotated[StoreContext, _can(Permission.STORE_VIEW)]
CanManageSettings = Annotated[StoreContext, _can(Permission.SETTINGS_MANAGE)]
CanViewStaff = Annotated[StoreContext, _can(Permission.STAFF_VIEW)]
CanManageStaff = Annotated[StoreContext, _can(Permission.STAFF_MANAGE)]
CanManageCatalog = Annotated[StoreContext, _can(Permission.CATALOG_MANAGE)]
CanViewPricing = Annotated[StoreContext, _can(Permission.PRICING_VIEW)]
CanManagePricing = Annotated[StoreContext, _can(Permission.PRICING_MANAGE)]
CanManageInventory = Annotated[StoreContext, _can(Permission.INVENTORY_MANAGE)]
CanManageCustomers = Annotated[StoreContext, _can(Permission.CUSTOMERS_MANAGE)]
CanViewTaxShipping = Annotated[StoreContext, _can(Permission.TAX_SHIPPING_VIEW)]
CanManageTaxShipping = Annotated[StoreContext, _can(Permission.TAX_SHIPPING_MANAGE)]
CanManagePayments = Annotated[StoreContext, _can(Permission.PAYMENTS_MANAGE)]
CanViewDiscounts = Annotated[StoreContext, _can(Permission.DISCOUNTS_VIEW)]
CanManageDiscounts = Annotated[StoreContext, _can(Permission.DISCOUNTS_MANAGE)]
CanViewOrders = Annotated[StoreContext, _can(Permission.ORDERS_VIEW)]
CanFulfilOrders = Annotated[StoreContext, _can(Permission.ORDERS_FULFIL)]
CanCancelOrders = Annotated[StoreContext, _can(Permission.ORDERS_CANCEL)]
CanMarkOrdersPaid = Annotated[StoreContext, _can(Permission.ORDERS_MARK_PAID)]
CanRefundOrders = Annotated[StoreContext, _can(Permission.ORDERS_REFUND)]
CanViewBilling = Annotated[StoreContext, _can(Permission.BILLING_VIEW)]
CanSpendCredits = Annotated[StoreContext, _can(Permission.CREDITS_SPEND)]
CanManageSubscription = Annotated[StoreContext, _can(Permission.SUBSCRIPTION_MANAGE)]
CanManageStripeKeys = Annotated[StoreContext, _can(Permission.STRIPE_KEYS_MANAGE)]
CanManageHostnames = Annotated[StoreContext, _can(Permission.HOSTNAMES_MANAGE)]
CanManagePlacement = Annotated[StoreContext, _can(Permission.PLACEMENT_MANAGE)]
CanManageStore = Annotated[StoreContext, _can(Permission.STORE_MANAGE)]
CanDeleteStore = Annotated[StoreContext, _can(Permission.STORE_DELETE)]
