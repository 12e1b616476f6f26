"""Moving stores in tests: the runtime behind a test client, fingerprints, placement rows."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from storefleet.commerce.users.models import TenantUser
from storefleet.control.placements.store_files import store_location
from storefleet.runtime import Runtime
from storefleet.tenancy.datacopy import TableStat, connect, store_stats

T = TypeVar("T")


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def call(client: TestClient, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
    """Run a coroutine function on the app's event loop (its engines live there)."""
    return client.portal.call(functools.partial(fn, *args, **kwargs))  # type: ignore[union-attr]


async def fingerprint(runtime: Runtime, store_id: uuid.UUID) -> dict[str, TableStat]:
    location = await store_location(runtime, store_id)
    async with await connect(location.admin_url) as conn:
        return await store_stats(conn, location, store_id)


async def add_staff(runtime: Runtime, store_id: uuid.UUID, n: int, tag: str) -> None:
    async with runtime.tenancy.session(store_id, write=True) as s:
        for i in range(n):
            s.add(
                TenantUser(
                    store_id=store_id,
                    email=f"{tag}-{i}@example.com",
                    first_name=f"Staff {i}",
                    role="staff",
                    account_type="staff",
                )
            )


async def staff_count(runtime: Runtime, store_id: uuid.UUID) -> int:
    async with runtime.tenancy.session(store_id, write=False) as s:
        return int(
            await s.scalar(select(func.count()).select_from(TenantUser)) or 0  # type: ignore[arg-type]
        )


def placement_row(conn: psycopg.Connection, store_id: object) -> tuple[Any, ...]:
    row = conn.execute(
        "SELECT placement, server_id, database_name, schema_name, writes_paused, status "
        "FROM store_databases WHERE store_id = %s",
        (store_id,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def edit_profile(client: TestClient, store: dict[str, Any], **changes: object) -> None:
    response = client.patch(
        f"/api/stores/{store['id']}/profile", headers=store["headers"], json=changes
    )
    assert response.status_code == 200, response.text


def count_rows_anywhere(admin_url: Any, schema: str, store_id: uuid.UUID) -> int | None:
    """Rows of the store in ``schema`` as superuser; None when the schema is gone."""
    from storefleet.db.urls import libpq_conninfo

    with psycopg.connect(libpq_conninfo(admin_url), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        if not exists:
            return None
        row = conn.execute(
            f'SELECT count(*) FROM "{schema}".users WHERE store_id = %s',
            (store_id,),
        ).fetchone()
        assert row is not None
        return int(row[0])
