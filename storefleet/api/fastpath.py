"""An ASGI layer that answers ``GET /api/storefront/store`` before FastAPI routes it.

The storefront's store profile is the hottest request of the platform, and its own work is
one cached resolution and one round trip to PostgreSQL; in one worker, FastAPI's routing
over every registered route, its dependency solving and the middleware stack cost more
than that. This layer calls the very same route function
(``storefleet.commerce.storefront.storefront_store``) and renders a ``DomainError`` with
the app's own problem+json handler, so responses are byte for byte those of the routed
path. The FastAPI route stays registered (OpenAPI, and any request this layer passes on).

Passed on to the app unchanged: every other path or method, a ``root_path`` mount, and any
request that announces a body (``BodySizeLimit`` answers those as before). Exceptions other
than domain errors propagate to Starlette's server-error middleware, as from a route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from storefleet.api.errors import domain_error_handler
from storefleet.commerce.storefront import storefront_store
from storefleet.errors import DomainError

FAST_PATH = "/api/storefront/store"
_BODY_HEADERS = (b"content-length", b"transfer-encoding")


class StorefrontFastPath:
    """Serve the storefront store profile directly; hand everything else to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != FAST_PATH
            or scope["method"] != "GET"
            or scope.get("root_path")
            or any(name in _BODY_HEADERS for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        scope["route"] = _FAST_ROUTE  # what metering reads: the route template
        request = Request(scope, receive)
        try:
            response = await storefront_store(request)
        except DomainError as exc:
            response = await domain_error_handler(request, exc)
        await response(scope, receive, send)


class _FastRoute:
    path = FAST_PATH


_FAST_ROUTE = _FastRoute()
