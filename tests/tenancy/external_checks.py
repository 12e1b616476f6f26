"""Calls of the external-database checks, shared by their test modules."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import pytest

from storefleet.db.foreign import ForeignPolicy
from storefleet.errors import InvalidInput
from storefleet.tenancy.external import ExternalDatabaseError, validate_url_shape
from storefleet.tenancy.inspection import ExternalDatabaseReport, inspect_external_database

PASSWORD = "Zebra-Qu1ll-Secret-7781"
SUPAVISOR_HOST = "aws-0-eu-central-1.pooler.supabase.com"


# The suite's servers trust local clients: opted in here, refused by default (see
# tests/tenancy/test_owner_auth.py).
TEST_POLICY = ForeignPolicy(connect_timeout=3, require_auth="scram-sha-256,none")


def inspect(raw: str, *, allow_private: bool) -> ExternalDatabaseReport:
    report, _ = run(inspect_external_database, raw, allow_private=allow_private, policy=TEST_POLICY)
    assert isinstance(report, ExternalDatabaseReport)
    return report


def remote(host: str = "db.example.com", query: str = "", port: int = 5432) -> str:
    return f"postgresql://postgres.abcdefghijklmnop:{PASSWORD}@{host}:{port}/postgres{query}"


def refused(raw: str, *, allow_private: bool = False) -> ExternalDatabaseError:
    with pytest.raises(ExternalDatabaseError) as info:
        validate_url_shape(raw, allow_private=allow_private)
    err = info.value
    assert isinstance(err, InvalidInput)
    assert err.field == "database_url"
    assert PASSWORD not in err.detail
    return err


def run(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return anyio.run(partial(fn, *args, **kwargs))
