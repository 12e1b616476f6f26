"""Request and response bodies of the staff API and the staff sign-in."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from storefleet.control.accounts.schemas import Name, Password
from storefleet.schemas import Page, Strict

# Only these can be given: the owner comes from the control plane, customers sign up.
StaffRole = Literal["admin", "staff"]
ListedRole = Literal["owner", "admin", "staff"]


class StaffCreate(Strict):
    email: EmailStr
    first_name: Name
    last_name: Name
    role: StaffRole
    password: Password


class StaffOut(BaseModel):
    """What may be shown of a store user: never hashes or tokens."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    role: str
    account_type: str
    is_active: bool
    last_login_at: datetime | None = None
    created_at: datetime | None = None


class StaffList(Page[StaffOut]):
    pass


class StaffLoginIn(Strict):
    store_id: uuid.UUID
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    password: Password


class StaffAuthOut(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int = Field(description="seconds until the token expires")
    store_id: uuid.UUID
    user: StaffOut
