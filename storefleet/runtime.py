"""The process-wide resources every entry point (API, CLI, workers) shares.

One ``Runtime`` holds the control-plane engine, the keyring and the token service. It is
built once at start-up and closed at shutdown; nothing in it is created per request.

It is also where tenancy is assembled: tenancy knows no domain, so it is handed the
control plane's ``PlacementSource``, the tenant tables (commerce's metadata) and the rows a
new store starts with.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storefleet import blocking
from storefleet.commerce.models import TenantBase
from storefleet.commerce.public_tables import PUBLIC_TABLES, STOCK_TABLES
from storefleet.commerce.seed import first_rows
from storefleet.config import Settings
from storefleet.control.accounts.login_failures import ControlFailures
from storefleet.control.billing import (  # noqa: F401  (registers a column for key rotation)
    credentials as _payment_credentials,
)
from storefleet.control.billing.limits import PlanLimitsCache
from storefleet.control.hostnames.resolver import StoreResolver
from storefleet.control.hostnames.storefront_changes import StorefrontChanges
from storefleet.control.placements.provisioning import Provisioner
from storefleet.control.placements.source import ControlPlacements
from storefleet.control.usage.budgets import Budgets
from storefleet.control.usage.service import UsageRecorder
from storefleet.db.engine import create_engine_for
from storefleet.security import keystore, passwords
from storefleet.security.keyring import Keyring
from storefleet.security.throttle import LoginThrottle
from storefleet.security.token_cache import VerifiedTokens
from storefleet.security.tokens import TokenService
from storefleet.tenancy.databases import PlatformDatabases
from storefleet.tenancy.engines import EngineRegistry
from storefleet.tenancy.limits import TenantLimits
from storefleet.tenancy.migrations import TenantMigrator
from storefleet.tenancy.session import Tenancy

TENANT_METADATA = TenantBase.metadata


@functools.cache
def tenant_migrator() -> TenantMigrator:
    """The tenant history over the tenant tables, read once per process."""
    return TenantMigrator(metadata=TENANT_METADATA)


if TYPE_CHECKING:
    from storefleet.control.credits.outbox import OutboxWorker


@dataclass
class Runtime:
    settings: Settings
    control_url: URL
    control_engine: AsyncEngine
    control_sessions: async_sessionmaker[AsyncSession]
    keyring: Keyring
    tokens: TokenService
    login_throttle: LoginThrottle
    tenancy: Tenancy
    provisioner: Provisioner
    resolver: StoreResolver
    plan_limits: PlanLimitsCache
    rate_budgets: Budgets
    storefront_changes: StorefrontChanges
    verified_tokens: VerifiedTokens = field(default_factory=VerifiedTokens)
    # Started by the API app when enabled; ``None`` in the CLI and with the feature off.
    credit_outbox: OutboxWorker | None = None
    usage_recorder: UsageRecorder | None = None

    @classmethod
    def build(cls, settings: Settings, control_url: URL) -> Runtime:
        material = keystore.load_or_create(settings.home)
        keyring = Keyring(
            material.keyring_keys, reload=lambda: keystore.reload_keyring_keys(settings.home)
        )
        blocking.configure(
            hashing=settings.hashing_threads, database_admin=settings.database_admin_threads
        )
        passwords.set_default_hasher(
            passwords.make_hasher(
                time_cost=settings.argon2_time_cost,
                memory_cost=settings.argon2_memory_cost,
                parallelism=settings.argon2_parallelism,
            )
        )
        engine = create_engine_for(control_url)
        control_sessions = async_sessionmaker(engine, expire_on_commit=False)
        tenancy = Tenancy(
            ControlPlacements(control_sessions, keyring),
            EngineRegistry(
                max_engines=settings.tenant_max_engines,
                pool_size=settings.tenant_pool_size,
                idle_seconds=settings.tenant_engine_idle_seconds,
                shared_pool_size=settings.tenant_shared_pool_size,
                shared_max_overflow=settings.tenant_shared_max_overflow,
            ),
            TenantLimits.from_settings(settings),
        )
        assert control_url.database
        provisioner = Provisioner(
            control_sessions=control_sessions,
            tenancy=tenancy,
            keyring=keyring,
            databases=PlatformDatabases.for_control(control_url.database),
            migrator=tenant_migrator(),
            seed_steps=first_rows,
        )
        plan_limits = PlanLimitsCache(control_sessions, ttl=settings.plan_limits_cache_seconds)
        storefront_changes = StorefrontChanges(
            engine,
            public_tables=PUBLIC_TABLES,
            stock_tables=STOCK_TABLES,
            stock_lag=settings.storefront_stock_lag_seconds,
        )
        tenancy.after_commit.append(storefront_changes.committed)
        return cls(
            settings=settings,
            control_url=control_url,
            control_engine=engine,
            control_sessions=control_sessions,
            keyring=keyring,
            tokens=TokenService(
                material.jwt_keys, ttl=timedelta(seconds=settings.token_ttl_seconds)
            ),
            login_throttle=LoginThrottle(
                max_failures=settings.login_max_failures,
                window_seconds=settings.login_failure_window_seconds,
                max_client_failures=settings.login_client_max_failures,
                # In the control plane, so every worker process and machine counts together.
                store=ControlFailures(engine, control_url),
            ),
            tenancy=tenancy,
            provisioner=provisioner,
            resolver=StoreResolver(control_sessions, tenancy),
            plan_limits=plan_limits,
            rate_budgets=Budgets.build(settings, control_sessions, plan_limits, engine),
            storefront_changes=storefront_changes,
        )

    async def start(self) -> None:
        """Work every entry point needs once: the default server registered."""
        from storefleet.control.servers.service import ensure_default_server

        async with self.control_sessions() as session, session.begin():
            await ensure_default_server(session, self.keyring, self.control_url)

    async def aclose(self) -> None:
        await self.rate_budgets.stop_sync()
        await self.storefront_changes.aclose()
        await self.tenancy.aclose()
        self.provisioner.close()
        await self.control_engine.dispose()
