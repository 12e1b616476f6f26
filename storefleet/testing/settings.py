"""Settings for a test or benchmark run: cheap password hashing, local servers trusted."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from storefleet.config import Settings

# What tests opt into (the test servers are local and trust their clients), as settings and
# as the environment of a CLI or server process started by a test.
TEST_OPT_INS: dict[str, object] = {
    "allow_private_databases": True,
    "owner_database_require_auth": "scram-sha-256,none",
}
TEST_ENV = {
    f"STOREFLEET_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
    for k, v in TEST_OPT_INS.items()
}


def _base(home: Path, control: URL) -> dict[str, object]:
    """What every run shares: cheap argon2, so account creation is not what is measured."""
    return {
        "environment": "test",
        "home": home,
        "database_url": control.render_as_string(hide_password=False),
        "argon2_time_cost": 1,
        "argon2_memory_cost": 1024,
        "argon2_parallelism": 1,
    }


def make_settings(home: Path, control_db: URL, **overrides: object) -> Settings:
    """The settings of a test module's app."""
    values: dict[str, object] = {
        **_base(home, control_db),
        # Ledger rows reach tenants when a test delivers them (outbox.deliver_all), not at a
        # moment of the background worker's choosing in the middle of another test's snapshot.
        "credit_outbox_enabled": False,
        # Refused by default; tests/tenancy/test_owner_connections.py checks the defaults.
        **TEST_OPT_INS,
        # Tests move stores back and forth; the move rate limit has its own test.
        "move_min_interval_seconds": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def bench_settings(home: Path, control: URL, **overrides: object) -> Settings:
    """Like ``make_settings`` but with the platform's defaults, and no store limit."""
    values: dict[str, object] = {**_base(home, control), "max_stores_per_account": 1_000_000}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
