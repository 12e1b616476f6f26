"""Stores put on the small test plans, for the plan-limit tests."""

from __future__ import annotations

import uuid

import psycopg
from fastapi.testclient import TestClient

from storefleet.runtime import Runtime

TINY_PLAN = uuid.UUID(int=99)
FEW_ORDERS_PLAN = uuid.UUID(int=98)
MONTHLY_PLAN = uuid.UUID(int=97)
MONTHLY = 6


def runtime_of(client: TestClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def put_on_plan(control_conn: psycopg.Connection, store_id: object, code: str) -> None:
    control_conn.execute(
        "UPDATE subscriptions SET plan_id = (SELECT id FROM plans WHERE code = %s) "
        "WHERE store_id = %s",
        (code, str(store_id)),
    )
