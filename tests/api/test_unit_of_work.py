"""Every route that opens a store's transaction is authorized for that store first."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient

from storefleet.api import unit_of_work
from storefleet.api.app import create_app
from storefleet.api.store_access import StorePermission
from storefleet.api.storefront_store import storefront_store
from storefleet.api.unit_of_work import TenantSession, UnauthorizedUnitOfWork
from tests.api.test_dependencies import api_routes

OPENERS = {"_write_session", "_read_session", "_scope"}


def _opens(dep: Dependant) -> bool:
    return getattr(dep.call, "__name__", "") in OPENERS and dep.call.__module__ == (
        unit_of_work.__name__
    )


def _authorizes(dep: Dependant) -> bool:
    if isinstance(dep.call, StorePermission) or dep.call is storefront_store:
        return True
    return any(_authorizes(sub) for sub in dep.dependencies)


def _unauthorized_openers(dependant: Dependant) -> list[str]:
    """Openers reached before any authorizing dependency, in FastAPI's resolution order."""
    authorized = False
    found: list[str] = []
    for dep in dependant.dependencies:
        if _opens(dep) and not authorized:
            found.append(str(getattr(dep.call, "__name__", dep.call)))
        if _authorizes(dep):
            authorized = True
        elif not _opens(dep):
            found.extend(_unauthorized_openers(dep))
    return found


def test_every_route_authorizes_before_it_opens_a_store_transaction(
    settings: Any, control_db: Any
) -> None:
    app = create_app(settings)
    routes = api_routes(list(app.routes))
    opening = [r for r in routes if any(_opens(d) for d in r.dependant.dependencies)]
    assert opening, "no route uses the unit of work"
    bad = {f"{r.methods} {r.path}": _unauthorized_openers(r.dependant) for r in routes}
    assert {k: v for k, v in bad.items() if v} == {}


def test_a_session_without_an_authorizing_dependency_is_refused() -> None:
    app = FastAPI()
    app.state.runtime = object()

    @app.get("/leak")
    async def leak(s: TenantSession) -> dict[str, str]:
        return {"reached": "yes"}

    with TestClient(app) as client, pytest.raises(UnauthorizedUnitOfWork):
        client.get("/leak")
