"""Request and response bodies for customers, their addresses and customer sign-in."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from storefleet.commerce.common import AddressIn, LongText, Page, Patch, Strict, Tag
from storefleet.control.accounts.schemas import Password, Phone

PersonName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]
Group = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Tags = Annotated[list[Tag], Field(max_length=50)]


class CustomerCreate(Strict):
    email: EmailStr
    first_name: PersonName = ""
    last_name: PersonName = ""
    phone: Phone | None = None
    accepts_marketing: bool = False
    customer_group: Group | None = None
    notes: LongText = ""
    tags: Tags = []


class CustomerUpdate(Strict, Patch):
    NOT_NULL = ("email", "first_name", "last_name", "accepts_marketing", "notes", "tags")

    email: EmailStr | None = None
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    phone: Phone | None = None
    accepts_marketing: bool | None = None
    customer_group: Group | None = None
    notes: LongText | None = None
    tags: Tags | None = None


class CustomerOut(BaseModel):
    """The admin view of a customer."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    is_guest: bool
    has_account: bool
    first_name: str
    last_name: str
    phone: str | None
    accepts_marketing: bool
    customer_group: str | None
    notes: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class CustomerSelfOut(BaseModel):
    """What a customer sees of themselves: no internal notes, tags or group.

    ``email_verified`` false: earlier guest orders with this email are not shown until the
    link sent to the address is used.
    """

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    phone: str | None
    accepts_marketing: bool
    email_verified: bool
    created_at: datetime


CustomerPage = Page[CustomerOut]


class AddressCreate(AddressIn):
    is_default_shipping: bool = False
    is_default_billing: bool = False


class AddressUpdate(Strict):
    """Partial update; the merged address is validated again as a whole."""

    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    phone: str | None = None
    is_default_shipping: bool | None = None
    is_default_billing: bool | None = None


class AddressOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    customer_id: uuid.UUID
    first_name: str
    last_name: str
    company: str | None
    line1: str
    line2: str | None
    city: str
    region: str | None
    postal_code: str
    country: str
    phone: str | None
    is_default_shipping: bool
    is_default_billing: bool
    created_at: datetime
    updated_at: datetime


class AddressList(BaseModel):
    items: list[AddressOut]


class RegisterIn(Strict):
    email: EmailStr
    password: Password
    first_name: PersonName = ""
    last_name: PersonName = ""
    accepts_marketing: bool = False


class RegistrationOut(BaseModel):
    """The one answer to every sign-up, whether or not the email already has an account."""

    email: str
    status: Literal["verification_pending"] = "verification_pending"
    detail: str = (
        "If this email can be registered here, a link to verify it has been sent to it. "
        "Orders placed earlier with this email appear in the account once it is verified."
    )


VerificationToken = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=16, max_length=128)
]


class VerifyEmailIn(Strict):
    """The token from the verification link and the password the address's owner chooses."""

    token: VerificationToken
    password: Password


class LoginIn(Strict):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    password: Password


class SelfUpdate(Strict, Patch):
    NOT_NULL = ("first_name", "last_name", "accepts_marketing")

    first_name: PersonName | None = None
    last_name: PersonName | None = None
    phone: Phone | None = None
    accepts_marketing: bool | None = None


class CustomerAuthOut(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int
    customer: CustomerSelfOut


class OwnOrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: int
    status: str
    payment_status: str
    fulfillment_status: str
    currency: str
    total: int
    placed_at: datetime | None


OwnOrderPage = Page[OwnOrderOut]
