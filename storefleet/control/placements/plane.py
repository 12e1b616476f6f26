"""What the placement orchestration (moves, fleet migrations, purges) uses of the app.

A ``Runtime`` has all of it; naming only these parts keeps the control plane below the
assembly that builds it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storefleet.config import Settings
from storefleet.tenancy.session import Tenancy

if TYPE_CHECKING:
    from storefleet.control.placements.provisioning import Provisioner


class Plane(Protocol):
    settings: Settings
    control_sessions: async_sessionmaker[AsyncSession]
    tenancy: Tenancy
    provisioner: Provisioner
