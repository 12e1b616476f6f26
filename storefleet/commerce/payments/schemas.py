"""Request and response bodies for payment methods; secrets are write-only."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, StringConstraints

from storefleet.commerce.common import LongText, ShortText, Strict
from storefleet.schemas import Position

Provider = Literal["manual", "bank_transfer", "cash_on_delivery", "stripe"]
Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"),
]
# Never stripped or echoed: a key is used exactly as given.
Secret = Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=4096)]
MAX_CONFIG_BYTES = 16_384
SECRET_WORDS = ("secret", "password", "private_key", "api_key", "token")


def _config(value: dict[str, Any]) -> dict[str, Any]:
    """Public settings only: anything that looks like a credential belongs in ``secret``."""
    if len(json.dumps(value)) > MAX_CONFIG_BYTES:
        raise ValueError(f"config must be at most {MAX_CONFIG_BYTES} bytes of JSON")
    for key in value:
        if any(word in key.lower() for word in SECRET_WORDS):
            raise ValueError(f"put credentials in 'secret', not in config (key {key!r})")
    return value


Config = Annotated[dict[str, Any], AfterValidator(_config)]


class PaymentMethodCreate(Strict):
    code: Code
    provider: Provider
    name: ShortText
    instructions: LongText = ""
    is_active: bool = True
    position: Position = 0
    config: Config = {}
    secret: Secret | None = None


class PaymentMethodUpdate(Strict):
    """``secret: null`` removes the stored secret; leaving it out keeps it."""

    code: Code | None = None
    name: ShortText | None = None
    instructions: LongText | None = None
    is_active: bool | None = None
    position: Position | None = None
    config: Config | None = None
    secret: Secret | None = None


class PaymentMethodOut(BaseModel):
    """Never the secret, only whether one is stored."""

    id: uuid.UUID
    code: str
    provider: str
    name: str
    instructions: str
    is_active: bool
    position: int
    config: dict[str, Any]
    has_secret: bool
    created_at: datetime
    updated_at: datetime


class PaymentMethodList(BaseModel):
    items: list[PaymentMethodOut]
