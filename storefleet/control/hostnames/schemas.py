"""Request and response bodies of the hostnames API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StringConstraints

from storefleet.schemas import Strict


class HostnameCreate(Strict):
    hostname: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    primary: bool = False


class HostnameOut(BaseModel):
    id: uuid.UUID
    hostname: str
    is_primary: bool
    created_at: datetime | None = None


class HostnameList(BaseModel):
    items: list[HostnameOut]
