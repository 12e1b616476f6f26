"""Request and response bodies of the stores API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints, field_validator

from storefleet.schemas import Page, Strict

RESERVED_SLUGS = frozenset(
    {
        "admin", "api", "app", "auth", "billing", "cdn", "dashboard", "docs", "help", "login",
        "logout", "mail", "new", "platform", "register", "root", "settings", "static", "status",
        "store", "stores", "storefleet", "storefront", "support", "system", "www",
    }
)  # fmt: skip

StoreName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Placement = Literal["pool", "schema", "database"]


def check_slug(value: str) -> str:
    import re

    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", value):
        raise ValueError(
            "slug must be 1-63 lowercase letters, digits or dashes, "
            "not starting or ending with a dash"
        )
    if "--" in value:
        raise ValueError("slug must not contain consecutive dashes")
    if value in RESERVED_SLUGS:
        raise ValueError(f"slug {value!r} is reserved")
    return value


class StoreCreate(Strict):
    name: StoreName
    slug: str
    placement: Placement | None = None
    server: Annotated[str, StringConstraints(max_length=63)] | None = None
    hostname: Annotated[str, StringConstraints(max_length=300)] | None = None

    _slug = field_validator("slug")(check_slug)


class StoreUpdate(Strict):
    name: StoreName | None = None
    slug: str | None = None

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        return None if value is None else check_slug(value)


class StoreOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    placement: str
    status: str
    provisioning_status: str
    created_at: datetime | None = None


class StoreList(Page[StoreOut]):
    pass


class ConnectDatabase(Strict):
    database_url: Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class ConnectDatabaseOut(BaseModel):
    store: StoreOut
    server_version: str
    behind_pooler: bool
    isolation: str
    isolation_note: str


class MoveRequest(Strict):
    placement: Placement
    server: Annotated[str, StringConstraints(max_length=63)] | None = None
