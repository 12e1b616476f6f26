"""Planning a move: where the store goes, refused when it is a no-op, a second move or too
soon; the ``store_moves`` row recorded as ``planned``.

A store's owner may start a move once per ``move_min_interval_seconds`` (every move copies
all of the store's rows); the operator's command line is not limited.
"""

from __future__ import annotations

import logging
import math
import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.placements.models import PLACEMENTS, StoreDatabase, StoreMove
from storefleet.control.servers.models import DatabaseServer
from storefleet.db.constraints import flush
from storefleet.errors import Conflict, InvalidInput, NotFound, RateLimited
from storefleet.tenancy import ddl
from storefleet.tenancy.datacopy import (
    Location,
)
from storefleet.tenancy.placement import StorePlacement

if TYPE_CHECKING:
    from storefleet.control.placements.plane import Plane

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExternalTarget:
    """A database the store owner brings; the password stays inside ``url``.

    ``app_role``/``app_password``: the store's own request role (``dedicated_role``
    isolation), or None when the connecting user cannot create roles (``owner_role``).
    """

    url: URL
    app_role: str | None
    app_password: str | None
    isolation: str


async def external_target(
    runtime: Plane, store_id: uuid.UUID, url: URL, *, can_create_role: bool
) -> ExternalTarget:
    """Where a connect-database move goes, with the store's request role when possible.

    A store already on a database of its owner keeps its role's password: the role is
    server-wide, and re-setting it would lock out reads of the current copy mid-move.
    """
    if not can_create_role:
        return ExternalTarget(url, None, None, ddl.OWNER_ISOLATION)
    role = ddl.external_app_role(store_id)
    password = secrets.token_urlsafe(24)
    if (await runtime.tenancy.placement(store_id, fresh=True)).external:
        creds = await runtime.tenancy.external_credentials(store_id)
        if creds.get("app_role") == role and creds.get("app_password"):
            password = creds["app_password"]
    return ExternalTarget(url, role, password, "dedicated_role")


@dataclass
class MoveReport:
    id: uuid.UUID
    store_id: uuid.UUID
    source: dict[str, Any]
    target: dict[str, Any]
    phase: str = "planned"
    status: str = "running"
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    leftover: str | None = None
    seconds: float = 0.0
    paused_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "from": self.source,
            "to": self.target,
            "phase": self.phase,
            "status": self.status,
            "tables": self.tables,
            "error": self.error,
            "leftover": self.leftover,
            "seconds": round(self.seconds, 3),
            "paused_seconds": round(self.paused_seconds, 3),
        }


@dataclass
class MovePlan:
    values: dict[str, Any]
    source: StorePlacement
    source_loc: Location
    target_loc: Location
    external: ExternalTarget | None


def _describe(values: dict[str, Any], server_name: str | None) -> dict[str, Any]:
    """What the move record shows: never credentials, never a URL."""
    return {
        "placement": values["placement"],
        "server": server_name,
        "database": values["database_name"],
        "schema": values["schema_name"],
        "external": values["server_id"] is None,
    }


def error_message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


async def plan_move(
    runtime: Plane,
    store_id: uuid.UUID,
    placement: str,
    server_name: str | None,
    external: ExternalTarget | None,
    min_interval: int,
) -> tuple[MovePlan, MoveReport]:
    """(a) Decide the target, refuse a no-op, a second move or one too soon; record it."""
    if placement not in PLACEMENTS:
        raise InvalidInput(f"placement must be one of {', '.join(PLACEMENTS)}", field="placement")
    source = await runtime.tenancy.placement(store_id, fresh=True)
    if source.store_status == "deleted":
        raise NotFound("Store not found")
    if source.status != "ready":
        raise Conflict("the store's data is not provisioned yet; finish provisioning first")
    tables = tuple(runtime.provisioner.migrator.tables)
    source_loc = Location(
        await runtime.tenancy.admin_url(source, long_statements=True), source.schema, tables
    )
    async with runtime.control_sessions() as s, s.begin():
        row = await s.get(StoreDatabase, store_id, with_for_update=True)
        if row is None:
            raise NotFound("Store not found")
        if external is not None:
            if placement != "database":
                raise InvalidInput("an external database is a database placement")
            values: dict[str, Any] = {
                "placement": "database",
                "server_id": None,
                "database_name": ddl.checked_database(external.url.database or ""),
                "schema_name": ddl.DATABASE_SCHEMA,
                "credentials_ciphertext": runtime.provisioner.external_credentials(
                    store_id, external.url, external.app_role, external.app_password
                ),
                "isolation": external.isolation,
            }
            target_url = runtime.tenancy.limits.foreign.with_statement_timeout(
                external.url, runtime.tenancy.limits.move_statement_timeout
            )
            target_server = None
        else:
            try:
                values = await runtime.provisioner.target(
                    s, store_id, placement, server_name=server_name
                )
            except NotFound as exc:
                raise InvalidInput(exc.detail, field="server") from None
            values |= {"credentials_ciphertext": None, "isolation": "dedicated_role"}
            server = await s.get(DatabaseServer, values["server_id"])
            assert server is not None
            target_server = server.name
            target_url = (await runtime.tenancy.server(server.id)).admin(
                str(values["database_name"])
            )
        target_loc = Location(target_url, values["schema_name"], tables)
        same_managed = external is None and (
            values["placement"],
            values["server_id"],
            values["database_name"],
            values["schema_name"],
        ) == (row.placement, row.server_id, row.database_name, row.schema_name)
        if same_managed or target_loc.same_as(source_loc):
            raise Conflict("the store is already there", field="placement")
        await _check_rate(s, store_id, min_interval)
        source_server = (await s.get(DatabaseServer, row.server_id)) if row.server_id else None
        source_values = {
            "placement": row.placement,
            "server_id": row.server_id,
            "database_name": row.database_name,
            "schema_name": row.schema_name,
        }
        move = StoreMove(
            store_id=store_id,
            source=_describe(source_values, source_server.name if source_server else None),
            target=_describe(values, target_server),
            phase="planned",
            status="running",
        )
        s.add(move)
        await flush(s, Conflict("a move of this store is already running"))
    report = MoveReport(id=move.id, store_id=store_id, source=move.source, target=move.target)
    return MovePlan(values, source, source_loc, target_loc, external), report


async def _check_rate(s: AsyncSession, store_id: uuid.UUID, min_interval: int) -> None:
    """Refuse a move while another runs, or sooner than ``min_interval`` after the last.

    Called with the store's ``store_databases`` row locked, so two requests cannot both pass.
    Every recorded move counts, failed ones included: each one copied rows.
    """
    last, running, now = (
        await s.execute(
            select(
                func.max(StoreMove.started_at),
                func.bool_or(StoreMove.status == "running"),
                func.now(),
            ).where(StoreMove.store_id == store_id)
        )
    ).one()
    if running:
        raise Conflict("a move of this store is already running")
    if last is None or min_interval <= 0:
        return
    wait = min_interval - (now - last).total_seconds()
    if wait > 0:
        raise RateLimited(
            f"this store was moved less than {min_interval} seconds ago; "
            f"try again in {math.ceil(wait)} seconds",
            retry_after=math.ceil(wait),
        )
