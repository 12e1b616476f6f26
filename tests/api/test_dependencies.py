"""Every route dependency is ``async``.

FastAPI runs a sync dependency on its thread pool (40 threads by default). Blocking work
elsewhere (argon2, owner-database DDL) must never make a request wait for a thread just
to read ``app.state`` or the client address, so the app has no sync dependency at all.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from storefleet.api.app import create_app
from storefleet.config import Settings


def _sync_dependencies(dependant: Dependant, seen: set[int]) -> list[str]:
    found: list[str] = []
    for dep in dependant.dependencies:
        call = dep.call
        if call is None or id(call) in seen:
            continue
        seen.add(id(call))
        target = call if inspect.isroutine(call) else type(call).__call__
        if not (inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)):
            found.append(
                f"{getattr(call, '__module__', '?')}.{getattr(call, '__qualname__', call)}"
            )
        found += _sync_dependencies(dep, seen)
    return found


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, including those of included routers (nested in recent FastAPI)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        nested = getattr(route, "original_router", None) or getattr(route, "router", None)
        if nested is not None and hasattr(nested, "routes"):
            found += api_routes(list(nested.routes))
    return found


def test_no_route_has_a_sync_dependency(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(Settings(environment="test", home=tmp_path))
    routes = api_routes(list(app.routes))
    assert len(routes) > 100
    sync: set[str] = set()
    for route in routes:
        sync.update(_sync_dependencies(route.dependant, set()))
    assert not sync, f"sync dependencies run on the thread pool: {sorted(sync)}"
