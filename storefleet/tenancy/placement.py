"""Where one store's data lives, as the request path needs to know it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class StorePlacement:
    store_id: uuid.UUID
    placement: str
    server_id: uuid.UUID | None
    database: str
    schema: str
    status: str
    store_status: str
    writes_paused: bool
    isolation: str
    schema_revision: str | None
    published: bool = True
    owner_id: uuid.UUID | None = None

    @property
    def external(self) -> bool:
        return self.server_id is None

    @property
    def engine_key(self) -> str:
        where = str(self.server_id) if self.server_id else f"external:{self.store_id}"
        return f"{where}/{self.database}"
