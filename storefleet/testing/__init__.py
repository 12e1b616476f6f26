"""The harness shared by tests/ and bench/: throwaway PostgreSQL, settings, app and clients.

An assembly module like ``cli``: it builds the runtime and the API app the way
``storefleet serve`` does, for a test or benchmark run. It never imports pytest (the
benchmarks run without the dev extra); the pytest fixtures in ``tests/conftest.py`` call it.
"""

from storefleet.testing.fleet import (
    BENCH_PLAN,
    PLACEMENTS,
    STRONG_PASSWORD,
    Accounts,
    Stores,
    bearer,
    lift_rate_limit,
    publish,
    publish_store,
)
from storefleet.testing.postgres import (
    TEST_DATABASE_ENV,
    Server,
    admin_execute,
    clone_database,
    create_database,
    drop_database,
    drop_fleet,
    migrated_control,
    start_server,
    tenant_databases,
    unique_name,
)
from storefleet.testing.servers import (
    app_client,
    asgi_client,
    free_port,
    live_server,
    serve,
    started_runtime,
    stop_group,
    wait_ready,
)
from storefleet.testing.settings import TEST_ENV, TEST_OPT_INS, bench_settings, make_settings

__all__ = [
    "BENCH_PLAN",
    "PLACEMENTS",
    "STRONG_PASSWORD",
    "TEST_DATABASE_ENV",
    "TEST_ENV",
    "TEST_OPT_INS",
    "Accounts",
    "Server",
    "Stores",
    "admin_execute",
    "app_client",
    "asgi_client",
    "bearer",
    "bench_settings",
    "clone_database",
    "create_database",
    "drop_database",
    "drop_fleet",
    "free_port",
    "lift_rate_limit",
    "live_server",
    "make_settings",
    "migrated_control",
    "publish",
    "publish_store",
    "serve",
    "start_server",
    "started_runtime",
    "stop_group",
    "tenant_databases",
    "unique_name",
    "wait_ready",
]
