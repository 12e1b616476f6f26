"""The FastAPI application factory, and the one each ``serve --workers N`` process calls."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy.engine import URL
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from storefleet import __version__
from storefleet.api import health
from storefleet.api.errors import install_error_handlers
from storefleet.api.fastpath import StorefrontFastPath
from storefleet.api.metering import UsageMetering
from storefleet.api.middleware import BodySizeLimit
from storefleet.api.parameters import refuse_unstorable_parameters
from storefleet.api.ratelimit import RateLimit
from storefleet.api.storefront_cache import StorefrontCaching
from storefleet.api.storefront_cache import install as install_storefront_cache
from storefleet.background import cancel_and_wait
from storefleet.commerce.carts import routes as cart_routes
from storefleet.commerce.catalog import routes as catalog_routes
from storefleet.commerce.catalog import storefront as catalog_storefront
from storefleet.commerce.customers import routes as customer_routes
from storefleet.commerce.customers import storefront as customer_storefront
from storefleet.commerce.inventory import routes as inventory_routes
from storefleet.commerce.orders import routes as order_routes
from storefleet.commerce.payments import routes as payment_routes
from storefleet.commerce.pricing import routes as pricing_routes
from storefleet.commerce.promotions import routes as promotion_routes
from storefleet.commerce.shipping import routes as shipping_routes
from storefleet.commerce.store.routes import router as store_profile_router
from storefleet.commerce.storefront import router as storefront_router
from storefleet.commerce.tax import routes as tax_routes
from storefleet.commerce.users import routes as staff_routes
from storefleet.config import (
    WORKER_CONTROL_URL_ENV,
    WORKER_RECOVERY_TICKET_ENV,
    Settings,
    configure_logging,
    get_settings,
)
from storefleet.control.accounts.revocations import RevokedTokenPruner
from storefleet.control.accounts.routes import router as auth_router
from storefleet.control.billing.routes import router as billing_router
from storefleet.control.credits.routes import router as credits_router
from storefleet.control.hostnames.listener import RoutingListener
from storefleet.control.hostnames.routes import router as hostnames_router
from storefleet.control.placements.provisioning import resume_in_background
from storefleet.control.stores.move_routes import router as store_moves_router
from storefleet.control.stores.routes import router as stores_router
from storefleet.control.usage.routes import router as usage_router
from storefleet.control.usage.service import UsageRecorder
from storefleet.db.urls import parse_url
from storefleet.runtime import Runtime

log = logging.getLogger(__name__)


async def recover_at_start_up(runtime: Runtime) -> None:
    """Unpause stores whose mover died, then finish interrupted provisionings."""
    from storefleet.control.placements.move_recovery import abandon_dead_moves

    try:
        await abandon_dead_moves(runtime)
    except Exception:
        log.exception("checking for abandoned moves at start-up failed")
    await resume_in_background(runtime.provisioner)


def create_app_from_env() -> FastAPI:
    """The app of one worker process of ``storefleet serve --workers N`` (uvicorn's factory).

    The parent process resolved the control database (starting the embedded server) and
    migrated it once; a worker takes that URL from the environment and never starts, stops
    or migrates a server itself. The start-up recovery runs in the one worker that takes the
    parent's ticket: a worker uvicorn restarts later must not resume a provisioning or judge
    a move that another live worker is running.
    """
    settings = get_settings()
    configure_logging(settings)
    resolved = os.environ.get(WORKER_CONTROL_URL_ENV)
    if resolved:
        url = parse_url(resolved)
    elif settings.database_url:
        url = parse_url(settings.database_url)
    else:
        raise RuntimeError(
            "no control database for this worker: start it with `storefleet serve --workers N`"
            " (which starts the embedded PostgreSQL once) or set STOREFLEET_DATABASE_URL"
        )
    return create_app(settings, url, recover=_take_recovery_ticket())


def _take_recovery_ticket() -> bool:
    """True for the one process that deletes the ticket file (or when there is no ticket)."""
    ticket = os.environ.get(WORKER_RECOVERY_TICKET_ENV)
    if not ticket:
        return True
    try:
        os.unlink(ticket)
    except FileNotFoundError:
        return False
    return True


def create_app(
    settings: Settings | None = None, control_url: URL | None = None, *, recover: bool = True
) -> FastAPI:
    """Build the app. ``control_url`` is resolved at start-up when not given; ``recover``
    runs the start-up recovery of interrupted provisionings and moves."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from storefleet.db.engine import control_url as resolve_control_url

        url = control_url or resolve_control_url(settings)
        runtime = Runtime.build(settings, url)
        await runtime.start()
        runtime.rate_budgets.start_sync()  # per-minute counts shared with other processes
        install_storefront_cache(app, runtime)
        listener = RoutingListener(
            url, runtime.resolver, storefront=runtime.storefront_changes.drop
        )
        await listener.open()
        app.state.runtime = runtime
        from storefleet.control.credits.outbox import OutboxWorker

        credit_outbox = OutboxWorker(runtime)
        if settings.credit_outbox_enabled:
            credit_outbox.start()
            runtime.credit_outbox = credit_outbox
        usage_recorder = None
        if settings.metering_enabled:
            usage_recorder = UsageRecorder(
                runtime.control_sessions,
                capacity=settings.usage_buffer_size,
                flush_interval=settings.usage_flush_interval_seconds,
                batch_size=settings.usage_flush_batch,
                retention_days=settings.usage_log_retention_days,
            )
            usage_recorder.start()
            runtime.usage_recorder = usage_recorder
        app.state.routing_listener = listener
        token_pruner = RevokedTokenPruner(
            runtime.control_sessions, interval=settings.revoked_tokens_prune_seconds
        )
        token_pruner.start()
        # Finish provisionings a crash left behind, without delaying start-up.
        resume = asyncio.create_task(recover_at_start_up(runtime)) if recover else None
        try:
            yield
        finally:
            if resume is not None:
                await cancel_and_wait(resume)
            await token_pruner.stop()
            await listener.stop()
            await credit_outbox.stop()
            if usage_recorder is not None:
                await usage_recorder.stop()
            await runtime.aclose()

    app = FastAPI(
        title="storefleet",
        version=__version__,
        description="Multi-tenant commerce platform API",
        lifespan=lifespan,
        dependencies=[Depends(refuse_unstorable_parameters)],
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Answers the storefront store profile and catalog reads itself (same store resolution,
    # same reads, same errors; doubtful parameters go on to FastAPI), inside the rate limit,
    # metering and cache so the hot path is limited, counted and cached like any other.
    app.add_middleware(StorefrontFastPath)
    # Public catalog answers from the per-process cache (api.storefront_cache), also inside
    # the rate limit and metering.
    app.add_middleware(StorefrontCaching)
    if settings.rate_limit_enabled:
        app.add_middleware(RateLimit)
    if settings.metering_enabled:
        app.add_middleware(UsageMetering)  # sees 413s and 429s too
    if settings.proxy_headers:
        # Outermost, and here rather than in uvicorn (``serve`` turns uvicorn's off): the
        # app behind any server or a TestClient sees the same client address.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    app.include_router(health.router)
    app.include_router(auth_router)
    app.include_router(stores_router)
    app.include_router(credits_router)
    app.include_router(billing_router)
    app.include_router(usage_router)
    app.include_router(store_moves_router)
    app.include_router(hostnames_router)
    app.include_router(store_profile_router)
    app.include_router(storefront_router)
    app.include_router(staff_routes.router)
    app.include_router(staff_routes.auth_router)
    app.include_router(catalog_routes.router)
    app.include_router(catalog_storefront.router)
    app.include_router(pricing_routes.router)
    app.include_router(inventory_routes.router)
    app.include_router(customer_routes.router)
    app.include_router(customer_storefront.router)
    app.include_router(tax_routes.router)
    app.include_router(shipping_routes.router)
    app.include_router(payment_routes.router)
    app.include_router(promotion_routes.router)
    app.include_router(cart_routes.router)
    app.include_router(order_routes.storefront_router)
    app.include_router(order_routes.router)
    return app
