"""Every tenant model, imported in one place for the tenant Alembic history and provisioning."""

from storefleet.commerce.carts.models import Cart, CartItem
from storefleet.commerce.catalog.models import (
    Category,
    CategoryProduct,
    Product,
    ProductImage,
    ProductOption,
    ProductOptionValue,
    ProductVariant,
)
from storefleet.commerce.credits.models import CreditBalanceCache, CreditSpendingLog
from storefleet.commerce.customers.models import Customer, CustomerAddress
from storefleet.commerce.inventory.models import (
    InventoryAdjustment,
    InventoryLevel,
    InventoryLocation,
    InventoryReservation,
)
from storefleet.commerce.orders.models import (
    Fulfillment,
    FulfillmentItem,
    Order,
    OrderEvent,
    OrderItem,
    OrderReturn,
    ReturnItem,
    StoreCounter,
)
from storefleet.commerce.payments.models import PaymentMethod, PaymentTransaction
from storefleet.commerce.pricing.models import CurrencySetting, Price, PriceRule
from storefleet.commerce.promotions.models import Discount, DiscountCode, DiscountRedemption
from storefleet.commerce.shipping.models import ShippingMethod, ShippingRate, ShippingZone
from storefleet.commerce.store.models import StoreConfig, StoreProfile
from storefleet.commerce.tax.models import TaxClass, TaxRule
from storefleet.commerce.users.models import TenantUser
from storefleet.tenancy.base import TenantBase

__all__ = [
    "Cart", "CartItem", "Category", "CategoryProduct", "CreditBalanceCache", "CreditSpendingLog",
    "CurrencySetting", "Customer",
    "CustomerAddress", "Discount", "DiscountCode", "DiscountRedemption", "Fulfillment",
    "FulfillmentItem", "InventoryAdjustment", "InventoryLevel", "InventoryLocation",
    "InventoryReservation", "Order", "OrderEvent", "OrderItem", "OrderReturn", "PaymentMethod",
    "PaymentTransaction", "Price", "PriceRule", "Product", "ProductImage", "ProductOption",
    "ProductOptionValue", "ProductVariant", "ReturnItem", "ShippingMethod", "ShippingRate",
    "ShippingZone", "StoreConfig", "StoreCounter", "StoreProfile", "TaxClass", "TaxRule",
    "TenantBase", "TenantUser",
]  # fmt: skip
