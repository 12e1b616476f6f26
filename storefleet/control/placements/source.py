"""The control plane's answer to tenancy's ``PlacementSource``: rows read and decrypted."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.control.placements.credentials import decrypt_external_credentials
from storefleet.control.placements.loading import load_placement
from storefleet.control.placements.models import StoreDatabase
from storefleet.control.servers.models import DatabaseServer
from storefleet.control.servers.service import access_for
from storefleet.security.keyring import Keyring
from storefleet.tenancy.placement import StorePlacement
from storefleet.tenancy.source import ServerAccess


class ControlPlacements:
    """Placements, servers and owner credentials from the control-plane database."""

    def __init__(self, control_sessions: async_sessionmaker[AsyncSession], keyring: Keyring):
        self.control_sessions = control_sessions
        self.keyring = keyring

    async def placement(self, store_id: uuid.UUID) -> StorePlacement | None:
        async with self.control_sessions() as s:
            return await load_placement(s, store_id)

    async def server(self, server_id: uuid.UUID) -> ServerAccess | None:
        async with self.control_sessions() as s:
            server = await s.get(DatabaseServer, server_id)
        return None if server is None else access_for(server, self.keyring)

    async def external_credentials(self, store_id: uuid.UUID) -> dict[str, str] | None:
        async with self.control_sessions() as s:
            row = await s.get(StoreDatabase, store_id)
        if row is None or row.credentials_ciphertext is None:
            return None
        return decrypt_external_credentials(self.keyring, store_id, row.credentials_ciphertext)
