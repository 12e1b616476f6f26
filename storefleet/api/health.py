"""Liveness and readiness probes."""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from storefleet.api.deps import RuntimeDep
from storefleet.api.errors import problem_response
from storefleet.db.migrate import head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    try:
        with anyio.fail_after(5):
            async with runtime.control_engine.connect() as conn:
                current = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar_one_or_none()
    except Exception:
        return problem_response(
            503, code="not-ready", title="Not ready", detail="Control database is unreachable"
        )
    head = head_revision()
    if current != head:
        return problem_response(
            503,
            code="not-ready",
            title="Not ready",
            detail="Control database migrations are not at head",
            current=current,
            head=head,
        )
    return JSONResponse({"status": "ready", "control_revision": current})
