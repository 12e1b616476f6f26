"""An ASGI layer that answers the storefront's hot reads before FastAPI routes them.

The storefront's store profile and its catalog reads (product list and page, categories, a
category's products, search) are the hottest requests of the platform, and their own work
is one cached store resolution and one round trip to PostgreSQL; in one worker, FastAPI's
routing over every registered route, its dependency solving and the middleware stack cost
more than that. This layer resolves the store with the same function as the routes'
``StorefrontStore`` dependency, calls the very same reads (the store route function,
``storefront_reads`` through ``api.catalog_fastpath``) and renders a ``DomainError`` with
the app's own problem+json handler, so responses are byte for byte those of the routed
path. The FastAPI routes stay registered (OpenAPI, and any request this layer passes on).

Passed on to the app unchanged: every other path or method, a ``root_path`` mount, any
request that announces a body (``BodySizeLimit`` answers those as before), a header with a
NUL character (``api.parameters`` answers 422), and a catalog request with any query
parameter its route does not know or that is not plainly valid (FastAPI answers as
before). Exceptions other than domain errors propagate to Starlette's server-error
middleware, as from a route.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from storefleet.api.catalog_fastpath import catalog_route
from storefleet.api.errors import domain_error_handler
from storefleet.api.storefront_store import storefront_store as resolve_storefront_store
from storefleet.commerce.storefront import storefront_store
from storefleet.errors import DomainError
from storefleet.tenancy.scope import StoreScope

FAST_PATH = "/api/storefront/store"
_PREFIX = "/api/storefront/"
_BODY_HEADERS = (b"content-length", b"transfer-encoding")


def _plain_get(scope: Scope) -> bool:
    if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
        return False
    return all(name not in _BODY_HEADERS and b"\0" not in value for name, value in scope["headers"])


class StorefrontFastPath:
    """Serve the storefront store profile and catalog reads directly; the rest to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if not path.startswith(_PREFIX) or not _plain_get(scope):
            await self.app(scope, receive, send)
            return
        if path == FAST_PATH:
            await self._store(scope, receive, send)
            return
        found = catalog_route(path)
        arguments = None if found is None else found[0].arguments(scope["query_string"])
        if found is None or arguments is None:
            await self.app(scope, receive, send)
            return
        route, slug = found
        scope["route"] = route  # what metering and the cache read: the route template
        request = Request(scope, receive)
        response: Response
        try:
            placement = await resolve_storefront_store(request)
            reads = StoreScope(request.app.state.runtime.tenancy, placement)
            body = await route.read(reads, slug, arguments)
            response = Response(body, media_type="application/json")
        except DomainError as exc:
            response = await domain_error_handler(request, exc)
        await response(scope, receive, send)

    async def _store(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = _FAST_ROUTE
        request = Request(scope, receive)
        try:
            response = await storefront_store(request)
        except DomainError as exc:
            response = await domain_error_handler(request, exc)
        await response(scope, receive, send)


class _FastRoute:
    path = FAST_PATH


_FAST_ROUTE = _FastRoute()
