"""Request and response bodies of the orders admin API and the storefront checkout."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from storefleet.commerce.common import Page, Strict
from storefleet.schemas import PositiveAmount

OrderStatus = Literal["pending", "confirmed", "processing", "completed", "cancelled"]
PaymentStatus = Literal[
    "unpaid", "authorized", "partially_paid", "paid", "partially_refunded", "refunded", "voided"
]
FulfillmentStatus = Literal[
    "unfulfilled", "partially_fulfilled", "fulfilled", "partially_returned", "returned"
]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
Reference = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LineQuantity = Annotated[int, Field(ge=1, le=1_000_000)]


class CheckoutIn(Strict):
    payment_method_code: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
    ]
    notes: Annotated[str, StringConstraints(max_length=2000)] = ""


class CancelIn(Strict):
    reason: Reason = ""


class MarkPaidIn(Strict):
    amount: PositiveAmount | None = None
    reference: Reference | None = None


class LineQuantityIn(Strict):
    order_item_id: uuid.UUID
    quantity: LineQuantity


class FulfillmentIn(Strict):
    items: Annotated[list[LineQuantityIn], Field(min_length=1, max_length=500)]
    carrier: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    tracking_number: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None
    ) = None


class RefundIn(Strict):
    amount: PositiveAmount
    reason: Reason = ""
    items: Annotated[list[LineQuantityIn], Field(max_length=500)] | None = None
    restock: bool = False


class OrderItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    product_id: uuid.UUID | None
    variant_id: uuid.UUID | None
    product_name: str
    variant_title: str
    sku: str | None
    options: dict[str, str]
    image_url: str | None
    requires_shipping: bool
    quantity: int
    unit_amount: int
    discount_amount: int
    tax_rate_bp: int
    tax_amount: int
    total_amount: int
    quantity_fulfilled: int
    quantity_returned: int


class OrderEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    event_type: str
    from_status: str | None
    to_status: str | None
    message: str
    data: dict[str, Any]
    actor: str
    created_at: datetime


class TransactionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    method_id: uuid.UUID | None
    kind: str
    status: str
    amount: int
    currency: str
    provider_reference: str | None
    created_at: datetime


class FulfillmentItemOut(BaseModel):
    order_item_id: uuid.UUID
    quantity: int


class FulfillmentOut(BaseModel):
    id: uuid.UUID
    status: str
    carrier: str | None
    tracking_number: str | None
    shipped_at: datetime | None
    items: list[FulfillmentItemOut]


class OrderSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: int
    status: str
    payment_status: str
    fulfillment_status: str
    currency: str
    subtotal: int
    discount_total: int
    shipping_total: int
    tax_total: int
    total: int
    paid_amount: int
    refunded_amount: int
    prices_include_tax: bool
    customer_id: uuid.UUID | None
    email: str
    discount_codes: list[str]
    source: str
    placed_at: datetime | None
    paid_at: datetime | None
    fulfilled_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None


class OrderList(Page[OrderSummary]):
    pass


class StorefrontOrderOut(OrderSummary):
    """What the buyer sees after checkout."""

    shipping_address: dict[str, Any] | None
    billing_address: dict[str, Any] | None
    shipping_method: dict[str, Any] | None
    items: list[OrderItemOut]


class OrderDetail(StorefrontOrderOut):
    customer_snapshot: dict[str, Any]
    notes: str
    tags: list[str]
    ip_address: str | None
    user_agent: str | None
    cart_id: uuid.UUID | None
    history: list[OrderEventOut]
    transactions: list[TransactionOut]
    fulfillments: list[FulfillmentOut]


class HistoryList(BaseModel):
    items: list[OrderEventOut]
