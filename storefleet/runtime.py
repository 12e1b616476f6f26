"""The process-wide resources every entry point (API, CLI, workers) shares.

One ``Runtime`` holds the control-plane engine, the keyring and the token service. It is
built once at start-up and closed at shutdown; nothing in it is created per request.

It is also where tenancy is assembled: tenancy knows no domain, so it is handed the
control plane's ``PlacementSource``, the tenant tables (commerce's metadata) and the rows a
new store starts with.
"""

from __future__ import annotations

import functools
import threading
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from storefleet.config import Settings

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

    from storefleet.control.billing.limits import PlanLimitsCache
    from storefleet.control.credits.outbox import OutboxWorker
    from storefleet.control.hostnames.resolver import StoreResolver
    from storefleet.control.hostnames.storefront_changes import StorefrontChanges
    from storefleet.control.placements.provisioning import Provisioner
    from storefleet.control.usage.budgets import Budgets
    from storefleet.control.usage.service import UsageRecorder
    from storefleet.security.keyring import Keyring
    from storefleet.security.keystore import JwtKey
    from storefleet.security.throttle import LoginThrottle
    from storefleet.security.token_cache import VerifiedTokens
    from storefleet.security.tokens import TokenService
    from storefleet.tenancy.databases import PlatformDatabases
    from storefleet.tenancy.migrations import TenantMigrator
    from storefleet.tenancy.seed import Seed, SeedRow
    from storefleet.tenancy.session import Tenancy

# What a command needs is imported when it needs it: a fleet command must not pay for the
# commerce models, the token signer or the hostname resolver at start-up.
_LAZY_LOCK = threading.Lock()


def tenant_metadata() -> MetaData:
    """The tenant tables: every commerce model, imported on first use."""
    from storefleet.commerce.models import TenantBase

    return TenantBase.metadata


def __getattr__(name: str) -> Any:
    if name == "TENANT_METADATA":
        return tenant_metadata()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def tenant_migrator() -> TenantMigrator:
    """The tenant history over the tenant tables, read once per process."""
    from storefleet.tenancy.migrations import TenantMigrator

    return TenantMigrator(metadata=tenant_metadata)


def first_rows(seed: Seed) -> list[SeedRow]:
    """Commerce's seed rows, its models imported when a store is first seeded."""
    from storefleet.commerce.seed import first_rows as commerce_first_rows

    return commerce_first_rows(seed)


@dataclass
class Runtime:
    """Built by ``build``: what every command uses. On first use: the provisioner, plan
    limits, rate budgets, token signer and its cache, and the hostname resolver. (Key
    rotation completes the encrypted-column registry itself, in ``complete_registry``:
    nothing has to be imported here for it.)"""

    settings: Settings
    control_url: URL
    control_engine: AsyncEngine
    control_sessions: async_sessionmaker[AsyncSession]
    keyring: Keyring
    login_throttle: LoginThrottle
    tenancy: Tenancy
    databases: PlatformDatabases
    jwt_keys: tuple[JwtKey, ...] = field(repr=False)
    # Started by the API app when enabled; ``None`` in the CLI and with the feature off.
    credit_outbox: OutboxWorker | None = None
    usage_recorder: UsageRecorder | None = None
    _provisioner: Provisioner | None = field(default=None, init=False, repr=False)

    @classmethod
    def build(cls, settings: Settings, control_url: URL) -> Runtime:
        from sqlalchemy.ext.asyncio import async_sessionmaker

        from storefleet import blocking
        from storefleet.control.accounts.login_failures import ControlFailures
        from storefleet.control.placements.source import ControlPlacements
        from storefleet.db.engine import create_engine_for
        from storefleet.security import keystore, passwords
        from storefleet.security.keyring import Keyring
        from storefleet.security.throttle import LoginThrottle
        from storefleet.tenancy.databases import PlatformDatabases
        from storefleet.tenancy.engines import EngineRegistry
        from storefleet.tenancy.limits import TenantLimits
        from storefleet.tenancy.session import Tenancy

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
        runtime = cls(
            settings=settings,
            control_url=control_url,
            control_engine=engine,
            control_sessions=control_sessions,
            keyring=keyring,
            login_throttle=LoginThrottle(
                max_failures=settings.login_max_failures,
                window_seconds=settings.login_failure_window_seconds,
                max_client_failures=settings.login_client_max_failures,
                # In the control plane, so every worker process and machine counts together.
                store=ControlFailures(engine, control_url),
            ),
            tenancy=tenancy,
            databases=PlatformDatabases.for_control(control_url.database),
            jwt_keys=material.jwt_keys,
        )
        tenancy.after_commit.append(runtime._storefront_committed)
        return runtime

    @functools.cached_property
    def storefront_changes(self) -> StorefrontChanges:
        """Announces writes to public tables (built on the first write or subscriber)."""
        from storefleet.commerce.public_tables import PUBLIC_TABLES, STOCK_TABLES
        from storefleet.control.hostnames.storefront_changes import StorefrontChanges

        return StorefrontChanges(
            self.control_engine,
            public_tables=PUBLIC_TABLES,
            stock_tables=STOCK_TABLES,
            stock_lag=self.settings.storefront_stock_lag_seconds,
        )

    async def _storefront_committed(self, store_id: uuid.UUID, tables: frozenset[str]) -> None:
        await self.storefront_changes.committed(store_id, tables)

    @property
    def provisioner(self) -> Provisioner:
        with _LAZY_LOCK:
            if self._provisioner is None:
                from storefleet.control.placements.provisioning import Provisioner

                self._provisioner = Provisioner(
                    control_sessions=self.control_sessions,
                    tenancy=self.tenancy,
                    keyring=self.keyring,
                    databases=self.databases,
                    migrator=tenant_migrator(),
                    seed_steps=first_rows,
                )
            return self._provisioner

    @provisioner.setter
    def provisioner(self, provisioner: Provisioner) -> None:
        self._provisioner = provisioner

    @property
    def tenant_migrator(self) -> TenantMigrator:
        """The provisioner's history (a test may have swapped it), without building one."""
        built = self._provisioner
        return built.migrator if built is not None else tenant_migrator()

    @functools.cached_property
    def plan_limits(self) -> PlanLimitsCache:
        from storefleet.control.billing.limits import PlanLimitsCache

        return PlanLimitsCache(self.control_sessions, ttl=self.settings.plan_limits_cache_seconds)

    @functools.cached_property
    def tokens(self) -> TokenService:
        from storefleet.security.tokens import TokenService

        return TokenService(self.jwt_keys, ttl=timedelta(seconds=self.settings.token_ttl_seconds))

    @functools.cached_property
    def rate_budgets(self) -> Budgets:
        from storefleet.control.usage.budgets import Budgets

        return Budgets.build(
            self.settings, self.control_sessions, self.plan_limits, self.control_engine
        )

    @functools.cached_property
    def verified_tokens(self) -> VerifiedTokens:
        from storefleet.security.token_cache import VerifiedTokens

        return VerifiedTokens()

    @functools.cached_property
    def resolver(self) -> StoreResolver:
        from storefleet.control.hostnames.resolver import StoreResolver

        return StoreResolver(self.control_sessions, self.tenancy)

    async def start(self) -> None:
        """Work every entry point needs once: the default server registered."""
        from storefleet.control.servers.service import ensure_default_server

        async with self.control_sessions() as session, session.begin():
            await ensure_default_server(session, self.keyring, self.control_url)

    async def aclose(self) -> None:
        budgets = self.__dict__.get("rate_budgets")  # a cached_property, if it was built
        if budgets is not None:
            await budgets.stop_sync()
        changes = self.__dict__.get("storefront_changes")
        if changes is not None:
            await changes.aclose()
        await self.tenancy.aclose()
        if self._provisioner is not None:
            self._provisioner.close()
        await self.control_engine.dispose()
