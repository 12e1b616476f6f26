"""Settings, read from the environment with the STOREFLEET_ prefix.

Nothing has to be configured to start: with no database URL the embedded PostgreSQL server
is used, and keys are generated under ``home`` on first start.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("storefleet", appauthor=False))


class CreditPack(BaseModel):
    """A credit pack on sale: ``credits`` for ``amount`` minor units of ``currency``."""

    credits: int = Field(gt=0)
    amount: int = Field(gt=0)
    currency: str = Field(pattern=r"^[a-z]{3}$")


def default_credit_packs() -> dict[str, CreditPack]:
    return {
        "small": CreditPack(credits=500, amount=500, currency="usd"),
        "medium": CreditPack(credits=2500, amount=2000, currency="usd"),
        "large": CreditPack(credits=10000, amount=7000, currency="usd"),
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOREFLEET_", extra="ignore")

    environment: Literal["development", "production", "test"] = "development"
    home: Path = Field(default_factory=default_home)
    database_url: str | None = None
    control_database: str = "storefleet"
    host: str = "127.0.0.1"
    port: int = 8000

    token_ttl_seconds: int = 7 * 24 * 3600
    max_body_bytes: int = 1_048_576

    # Failed sign-ins inside the window: per (email, client), and per client over all emails
    # and login kinds (a client guessing many accounts), after which that client waits.
    login_max_failures: int = 5
    login_client_max_failures: int = 50
    login_failure_window_seconds: int = 300
    # Behind a reverse proxy: take the client address (and scheme) from X-Forwarded-For
    # (X-Forwarded-Proto) when the connecting peer is one of ``forwarded_allow_ips`` (comma
    # separated addresses or networks, ``*`` for any). Off: the TCP peer is the client.
    proxy_headers: bool = False
    forwarded_allow_ips: str = "127.0.0.1"
    # Expired rows of revoked_tokens are deleted at start-up and this often.
    revoked_tokens_prune_seconds: float = 3600.0

    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536
    argon2_parallelism: int = 4

    default_placement: Literal["pool", "schema", "database"] = "pool"
    # Tenant connections stay under ``tenant_max_engines * tenant_pool_size`` (64), which
    # fits a default PostgreSQL ``max_connections`` (100) next to the control plane's pool.
    tenant_max_engines: int = 16
    tenant_pool_size: int = 4
    tenant_engine_idle_seconds: float = 300
    allow_private_databases: bool | None = None
    max_stores_per_account: int = 100

    # Payments (platform's own Stripe account, for credit packs). Unset: purchases answer 503.
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    public_base_url: str = "http://127.0.0.1:8000"
    credit_packs: dict[str, CreditPack] = Field(default_factory=default_credit_packs)

    # Plan limits and usage metering.
    rate_limit_enabled: bool = True
    plan_limits_cache_seconds: float = 30.0
    # One storefront client (an address, an IPv6 /64) may use at most this share of the
    # store's per-minute storefront allowance.
    storefront_client_share: float = Field(default=0.25, gt=0, le=1)
    # How often each process re-reads a store's metered calls this month (for the plan's
    # max_api_calls_per_month); in between it adds what it served itself.
    monthly_usage_refresh_seconds: float = 5.0
    metering_enabled: bool = True
    credit_outbox_enabled: bool = True
    usage_buffer_size: int = 100_000
    usage_flush_interval_seconds: float = 1.0
    usage_flush_batch: int = 500
    usage_log_retention_days: int = 30

    log_level: str = "INFO"

    @property
    def private_databases_allowed(self) -> bool:
        """Owner-supplied URLs may reach private addresses only where explicitly allowed."""
        if self.allow_private_databases is not None:
            return self.allow_private_databases
        return self.environment in ("development", "test")

    @property
    def uses_embedded_server(self) -> bool:
        return self.database_url is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
