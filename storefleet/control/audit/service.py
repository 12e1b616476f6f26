"""Writing the audit log. Rows are only ever inserted; a trigger refuses updates and deletes."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.audit.models import AuditEntry


async def record(
    session: AsyncSession,
    *,
    action: str,
    entity_type: str,
    entity_id: str | uuid.UUID | None,
    actor_id: uuid.UUID | None,
    actor_label: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    client_ip: str | None = None,
) -> None:
    session.add(
        AuditEntry(
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id) if entity_id is not None else None,
            actor_id=actor_id,
            actor_label=actor_label,
            before=before,
            after=after,
            client_ip=client_ip,
        )
    )
