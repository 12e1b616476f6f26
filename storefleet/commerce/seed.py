"""The rows every new store starts with: what a store needs to sell on day one.

The profile, its config, the owner as a tenant user, its default currency and a stock
location. Tenancy's seed runner (``storefleet.tenancy.seed``) writes them; the assembly
(``storefleet.runtime``) hands this function to it.
"""

from __future__ import annotations

from storefleet.commerce.inventory.models import InventoryLocation
from storefleet.commerce.pricing.models import CurrencySetting
from storefleet.commerce.store.models import StoreConfig, StoreProfile
from storefleet.commerce.users.models import TenantUser
from storefleet.tenancy.seed import Seed, SeedRow

DEFAULT_CURRENCY = "USD"


def first_rows(seed: Seed) -> list[SeedRow]:
    """(model, given values) per seed row; defaults are the models' own."""
    store_id = seed.store_id
    return [
        (
            StoreProfile,
            {
                "store_id": store_id,
                "id": store_id,
                "owner_account_id": seed.owner_id,
                "name": seed.name,
                "slug": seed.slug,
                "currency": DEFAULT_CURRENCY,
                "timezone": "UTC",
                "contact_email": seed.email,
            },
        ),
        (StoreConfig, {"store_id": store_id, "profile_id": store_id}),
        (
            CurrencySetting,
            {
                "store_id": store_id,
                "code": DEFAULT_CURRENCY,
                "is_enabled": True,
                "is_default": True,
            },
        ),
        (
            InventoryLocation,
            {"store_id": store_id, "name": "Main", "code": "main", "is_default": True},
        ),
        (
            TenantUser,
            {
                "store_id": store_id,
                "account_id": seed.owner_id,
                "email": seed.email,
                "first_name": seed.first_name,
                "last_name": seed.last_name,
                "role": "owner",
                "account_type": "agency",
                "email_verified": seed.email_verified,
            },
        ),
    ]
