"""The small plans the plan-limit tests put stores on, and settings that enforce them."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.engine import URL

from storefleet.config import Settings
from storefleet.db.urls import libpq_conninfo
from storefleet.testing import make_settings
from tests.control.billing.limits.helpers import FEW_ORDERS_PLAN, MONTHLY, MONTHLY_PLAN, TINY_PLAN


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Settings:
    # Monthly counts are re-read only at start here, so each test sees one read exactly.
    return make_settings(
        tmp_path_factory.mktemp("home"),
        control_db,
        max_stores_per_account=2,
        monthly_usage_refresh_seconds=3600,
    )


@pytest.fixture(scope="module", autouse=True)
def tiny_plan(control_db: URL) -> None:
    with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO plans (id, code, name, currency, monthly_price, annual_price, "
            "included_credits, max_products, max_api_calls_per_minute, trial_days, is_active, "
            "position) VALUES (%s, 'tiny', 'Tiny', 'USD', 0, 0, 0, 2, 5, 0, true, 9)",
            (TINY_PLAN,),
        )
        conn.execute(
            "INSERT INTO plans (id, code, name, currency, monthly_price, annual_price, "
            "included_credits, max_orders_per_month, trial_days, is_active, position) "
            "VALUES (%s, 'few-orders', 'Few orders', 'USD', 0, 0, 0, 3, 0, true, 8)",
            (FEW_ORDERS_PLAN,),
        )
        conn.execute(
            "INSERT INTO plans (id, code, name, currency, monthly_price, annual_price, "
            "included_credits, max_api_calls_per_month, max_api_calls_per_minute, trial_days, "
            "is_active, position) VALUES (%s, 'monthly', 'Monthly', 'USD', 0, 0, 0, %s, 1000, "
            "0, true, 9)",
            (MONTHLY_PLAN, MONTHLY),
        )
