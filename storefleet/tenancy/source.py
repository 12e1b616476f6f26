"""What tenancy reads about a store from whoever knows where stores live.

tenancy knows no domain: the control plane implements ``PlacementSource`` (see
``storefleet.control.placements.source``) and the assembly (``storefleet.runtime``) hands
it to ``Tenancy``. Answers are plain values; ``None`` means "no such store / server".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import URL

from storefleet.tenancy.ddl import APP_ROLE
from storefleet.tenancy.placement import StorePlacement


@dataclass(frozen=True)
class ServerAccess:
    """Decrypted connection details of one server (kept in memory only)."""

    id: uuid.UUID
    name: str
    admin_url: URL
    app_password: str

    def admin(self, database: str) -> URL:
        return self.admin_url.set(database=database)

    def app(self, database: str) -> URL:
        return self.admin_url.set(database=database, username=APP_ROLE, password=self.app_password)


class PlacementSource(Protocol):
    async def placement(self, store_id: uuid.UUID) -> StorePlacement | None:
        """Where the store's data lives, read fresh."""
        ...

    async def server(self, server_id: uuid.UUID) -> ServerAccess | None:
        """A registered server's decrypted access."""
        ...

    async def external_credentials(self, store_id: uuid.UUID) -> dict[str, str] | None:
        """The decrypted credentials of a database the store's owner brought."""
        ...
