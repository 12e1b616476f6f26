"""Request and response bodies of the credits and plans API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from storefleet.schemas import Page, Strict

ServiceKey = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9][a-z0-9._-]{0,99}$")
]
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class SpendIn(Strict):
    service: ServiceKey
    idempotency_key: IdempotencyKey


class LedgerRow(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    seq: int
    kind: str
    amount: int
    balance_after: int
    service_key: str | None
    reference: dict[str, Any]
    actor: str
    created_at: datetime


class SpendOut(BaseModel):
    transaction: LedgerRow
    balance: int
    replayed: bool = Field(description="true when this idempotency key was already used")


class LedgerPage(Page[LedgerRow]):
    pass


class CachedBalanceOut(BaseModel):
    balance: int
    ledger_seq: int
    synced_at: datetime | None
    age_seconds: float | None
    source: Literal["tenant_cache"] = "tenant_cache"


class BalanceOut(BaseModel):
    store_id: uuid.UUID
    balance: int
    updated_at: datetime
    source: Literal["ledger"] = "ledger"


class CostIn(Strict):
    service: ServiceKey
    cost: Annotated[int, Field(gt=0, le=1_000_000)]
    description: Annotated[str, StringConstraints(max_length=500)] = ""
    is_active: bool = True
    effective_from: datetime | None = None


class CostOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    service_key: str
    cost: int
    is_active: bool
    description: str
    effective_from: datetime


class PlanOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    currency: str
    monthly_price: int
    annual_price: int
    included_credits: int
    max_products: int | None
    max_orders_per_month: int | None
    max_storage_mb: int | None
    max_api_calls_per_month: int | None
    max_api_calls_per_minute: int | None
    trial_days: int


class SubscriptionOut(BaseModel):
    plan: PlanOut
    status: str
    billing_cycle: str
    trial_ends_at: datetime | None
    current_period_start: datetime
    current_period_end: datetime


class PlanChangeIn(Strict):
    plan: Annotated[str, StringConstraints(max_length=50)]
    billing_cycle: Literal["monthly", "annual"] = "monthly"


class PlanCheckoutOut(BaseModel):
    """The change waits for payment: send the owner to ``checkout_url``."""

    checkout_url: str
    session_id: str
    billing_transaction_id: uuid.UUID
    plan: str
    billing_cycle: str
    expires_at: datetime
