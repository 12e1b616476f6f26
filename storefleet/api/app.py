"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.engine import URL

from storefleet import __version__
from storefleet.api import health
from storefleet.api.errors import install_error_handlers
from storefleet.api.middleware import BodySizeLimit
from storefleet.config import Settings, get_settings
from storefleet.control.accounts.routes import router as auth_router
from storefleet.control.stores.routes import router as stores_router
from storefleet.runtime import Runtime


def create_app(settings: Settings | None = None, control_url: URL | None = None) -> FastAPI:
    """Build the app. ``control_url`` is resolved at start-up when not given."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from storefleet.db.engine import control_url as resolve_control_url

        url = control_url or resolve_control_url(settings)
        runtime = Runtime.build(settings, url)
        await runtime.start()
        app.state.runtime = runtime
        try:
            yield
        finally:
            await runtime.aclose()

    app = FastAPI(
        title="storefleet",
        version=__version__,
        description="Multi-tenant commerce platform API",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(auth_router)
    app.include_router(stores_router)
    return app
