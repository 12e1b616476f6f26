"""Start-up recovery of moves whose mover died: the store is unpaused where it was."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from storefleet.control.placements.models import StoreDatabase, StoreMove
from storefleet.control.placements.move_plan import error_message
from storefleet.db.locks import Seed
from storefleet.tenancy.datacopy import (
    connect,
)

if TYPE_CHECKING:
    from storefleet.control.placements.plane import Plane

log = logging.getLogger(__name__)


async def abandon_dead_moves(runtime: Plane) -> list[uuid.UUID]:
    """Unpause stores whose mover died mid-move (start-up recovery).

    A live mover holds the store's advisory lock on the source database for the whole move;
    if that lock can be taken, nobody is moving the store any more. The store never left its
    source (the flip marks the move completed in the same transaction), so it is whole there:
    its writes resume and the move is marked abandoned. A later move clears the partial target.
    """
    async with runtime.control_sessions() as s:
        running = list(
            (await s.execute(select(StoreMove).where(StoreMove.status == "running"))).scalars()
        )
    abandoned: list[uuid.UUID] = []
    for move in running:
        try:
            where = await runtime.tenancy.placement(move.store_id, fresh=True)
            conn = await connect(await runtime.tenancy.admin_url(where))
        except Exception as exc:
            log.warning("cannot check move %s: %s", move.id, error_message(exc))
            continue
        try:
            got = (
                await (
                    await conn.execute(
                        "SELECT pg_catalog.pg_try_advisory_lock("
                        f"{Seed.STORE_WRITES.qualified_sql('%s')})",
                        (str(move.store_id),),
                    )
                ).fetchone()
            )[0]  # type: ignore[index]
            if not got:
                continue
            async with runtime.control_sessions() as s, s.begin():
                await s.execute(
                    update(StoreMove)
                    .where(StoreMove.id == move.id, StoreMove.status == "running")
                    .values(
                        status="abandoned",
                        error="the process running this move stopped; writes resumed",
                        finished_at=datetime.now(UTC),
                    )
                )
                await s.execute(
                    update(StoreDatabase)
                    .where(StoreDatabase.store_id == move.store_id)
                    .values(writes_paused=False)
                )
            runtime.tenancy.invalidate(move.store_id)
            abandoned.append(move.store_id)
            log.warning(
                "abandoned move %s of store %s: its mover had stopped", move.id, move.store_id
            )
        finally:
            await conn.close()
    return abandoned
