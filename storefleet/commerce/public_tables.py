"""The tenant tables the public storefront's answers are read from.

The storefront cache (``storefleet.api.storefront_cache``) is invalidated by every write
transaction that wrote one of them. ``STOCK_TABLES`` change with every checkout, so their
writes may be announced late by at most ``storefront_stock_lag_seconds``
(``control.hostnames.storefront_changes``). A new public read over another table must add
it here (``tests/api/test_storefront_cache.py`` checks the names are tenant tables).
"""

from __future__ import annotations

STOCK_TABLES = frozenset({"inventory"})
PUBLIC_TABLES = STOCK_TABLES | frozenset(
    {
        "stores",
        "store_configs",
        "currency_settings",
        "products",
        "product_variants",
        "product_options",
        "product_option_values",
        "product_images",
        "prices",
        "price_rules",
        "categories",
        "category_products",
        "inventory_locations",
    }
)
