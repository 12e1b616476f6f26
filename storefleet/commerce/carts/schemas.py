"""Request and response bodies of the storefront cart API. Amounts are integer minor units."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, EmailStr, Field, StringConstraints

from storefleet.commerce.common import AddressIn, CurrencyCode, Strict

MAX_LINE_QUANTITY = 1000
LineQuantity = Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY)]
CodeText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class CartCreate(Strict):
    currency: CurrencyCode | None = None


class ItemAdd(Strict):
    variant_id: uuid.UUID
    quantity: LineQuantity = 1


class ItemUpdate(Strict):
    quantity: Annotated[int, Field(ge=0, le=MAX_LINE_QUANTITY)]


class CodeIn(Strict):
    code: CodeText


class AddressesIn(Strict):
    email: EmailStr
    shipping_address: AddressIn
    billing_address: AddressIn | None = None


class ShippingMethodIn(Strict):
    shipping_method_id: uuid.UUID


class CartLineOut(BaseModel):
    id: uuid.UUID | None
    variant_id: uuid.UUID
    product_id: uuid.UUID | None
    product_name: str | None
    variant_title: str | None
    sku: str | None
    quantity: int
    available: bool
    unit_amount: int
    compare_at_amount: int | None
    subtotal: int
    discount_amount: int
    tax_rate_bp: int
    tax_amount: int
    total_amount: int


class AppliedDiscountOut(BaseModel):
    discount_id: uuid.UUID
    code: str | None
    name: str
    kind: str
    amount: int


class ShippingOptionOut(BaseModel):
    method_id: uuid.UUID
    code: str
    name: str
    amount: int
    currency: str


class ShippingOptionList(BaseModel):
    items: list[ShippingOptionOut]


class CartOut(BaseModel):
    token: str
    status: str
    currency: str
    email: str | None
    customer_id: uuid.UUID | None
    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    shipping_method_id: uuid.UUID | None
    codes: list[str]
    items: list[CartLineOut]
    discounts: list[AppliedDiscountOut]
    prices_include_tax: bool
    requires_shipping: bool
    subtotal: int
    discount_total: int
    shipping_total: int
    tax_total: int
    total: int
    expires_at: datetime
    order_id: uuid.UUID | None
