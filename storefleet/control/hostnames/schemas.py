"""Request and response bodies of the hostnames API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from storefleet.schemas import Strict


class HostnameCreate(Strict):
    hostname: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    primary: bool = False


class HostnameUpdate(Strict):
    primary: Literal[True]


class DnsRecord(BaseModel):
    """The record that proves control of a pending hostname."""

    type: Literal["TXT"] = "TXT"
    name: str
    value: str


class HostnameOut(BaseModel):
    id: uuid.UUID
    hostname: str
    is_primary: bool
    status: Literal["pending", "verified"]
    verified_at: datetime | None = None
    last_checked_at: datetime | None = None
    last_error: str | None = None
    # Present while pending: create it, then POST .../verify.
    verification: DnsRecord | None = None
    created_at: datetime | None = None


class HostnameList(BaseModel):
    items: list[HostnameOut]
