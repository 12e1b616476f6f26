"""Roles inside a store: what the owner, an admin and a staff member may do, route by route.

The app's admin routes must be exactly those in ``ROUTES`` (a route added without an entry
fails here), each requiring the permission the table names. In every placement: a member
of store A without the permission gets 403 and nothing in A changes; store B's owner,
admin and staff get 404 on every route of A; every member who holds the permission gets
the route's real answer (with a row of their own where the route deletes or moves one on).
The riskiest refusals (refund, mark paid, payment secrets, credits, staff, subscription) are
checked on the data, each next to the same call succeeding for a role that may make it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.api.store_access import StorePermission
from storefleet.commerce.users import service as staff_service
from storefleet.commerce.users.permissions import ROLES_WITH, STORE_ROLES, Permission, allows
from storefleet.config import Settings
from storefleet.db.urls import libpq_conninfo
from storefleet.errors import PermissionDenied
from storefleet.tenancy.scope import StoreScope
from storefleet.testing import PLACEMENTS, Stores, make_settings
from tests.api.test_dependencies import api_routes
from tests.commerce.orders.test_checkout_e2e import problem
from tests.isolation.attack import STAFF_PASSWORD
from tests.isolation.roles import ROLES, ROUTES, SERVICE, World, build, send, unique

# The account API's own read of a store (a platform token only; staff get 401 everywhere).
ACCOUNT_ROUTES = {("GET", "/api/stores/{store_id}")}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Settings:
    """Hundreds of calls per store in a minute: the plan's request rate is not under test."""
    return make_settings(tmp_path_factory.mktemp("home"), control_db, rate_limit_enabled=False)


@pytest.fixture(scope="module", autouse=True)
def price(control_db: URL) -> None:
    with psycopg.connect(libpq_conninfo(control_db), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO service_credit_costs (id, service_key, cost, is_active, description, "
            "effective_from) VALUES (gen_random_uuid(), %s, 1, true, '', "
            "now() - interval '1 minute')",
            (SERVICE,),
        )


@pytest.fixture(autouse=True)
def _fresh_login_throttle(client: TestClient) -> None:
    client.app.state.runtime.login_throttle.clear()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def worlds(client: TestClient, stores: Stores) -> Callable[[str], World]:
    cache: dict[str, World] = {}

    def get(placement: str) -> World:
        if placement not in cache:
            cache[placement] = build(client, stores, placement)
        return cache[placement]

    return get


@pytest.fixture(params=PLACEMENTS)
def world(request: pytest.FixtureRequest, worlds: Callable[[str], World]) -> World:
    return worlds(str(request.param))


def _permissions(dependant: Dependant) -> Iterator[Permission]:
    for dep in dependant.dependencies:
        if isinstance(dep.call, StorePermission):
            yield dep.call.permission
        yield from _permissions(dep)


def test_every_admin_route_names_the_permission_of_the_table(tmp_path: Path) -> None:
    app = create_app(Settings(environment="test", home=tmp_path))
    found: dict[tuple[str, str], list[Permission]] = {}
    for route in api_routes(list(app.routes)):
        for method in route.methods:
            key = (method, route.path)
            if "{store_id}" in route.path and key not in ACCOUNT_ROUTES:
                found[key] = list(_permissions(route.dependant))
    table = {(r.method, r.template): [r.permission] for r in ROUTES}
    assert len(table) == len(ROUTES), "a route is listed twice"
    assert sorted(set(found) - set(table)) == [], "admin routes missing from ROUTES"
    assert sorted(set(table) - set(found)) == [], "ROUTES lists routes the app does not have"
    wrong = {k: v for k, v in found.items() if v != table[k]}
    assert wrong == {}, "routes whose permission differs from the table (or is missing)"


def test_every_permission_has_roles_and_the_owner_holds_all() -> None:
    assert set(ROLES_WITH) == set(Permission)
    for permission, roles in ROLES_WITH.items():
        assert roles and roles <= set(STORE_ROLES), permission
        assert allows("owner", permission), permission
    assert {r.permission for r in ROUTES} == set(Permission), "a permission no route uses"


def test_the_staff_service_checks_the_table_too(
    worlds: Callable[[str], World], control_conn: psycopg.Connection
) -> None:
    """Behind the route's check: a caller of the service with a staff role is refused."""
    world = worlds("pool")
    runtime = world.client.app.state.runtime  # type: ignore[attr-defined]

    async def add_as_staff() -> None:
        placement = await runtime.tenancy.placement(uuid.UUID(world.store_id))
        await staff_service.add_staff(
            StoreScope(runtime.tenancy, placement),
            actor_role="staff",
            email=f"{unique('mole')}@example.com",
            password=STAFF_PASSWORD,
            first_name="Sam",
            last_name="Mole",
            role="admin",
        )

    before = world.fingerprint(control_conn)
    with pytest.raises(PermissionDenied) as refused:
        world.client.portal.call(add_as_staff)  # type: ignore[union-attr]
    assert refused.value.extra["permission"] == "staff.manage"
    assert world.fingerprint(control_conn) == before


@dataclass(frozen=True)
class Case:
    """A refusal checked on the data, and the same call made by a role that may make it."""

    name: str
    permission: Permission
    denied: tuple[str, ...]
    allowed: str
    request: Callable[[World], tuple[str, str, Any]]
    read: Callable[[World, psycopg.Connection], Any]


def _on(world: World, path: str) -> str:
    return f"/api/stores/{world.store_id}{path}"


def _refund(w: World) -> tuple[str, str, Any]:
    order = w.order(paid=True)
    return "POST", _on(w, f"/orders/{order['id']}/refunds"), {"amount": 300, "reason": "late"}


def _mark_paid(w: World) -> tuple[str, str, Any]:
    return "POST", _on(w, f"/orders/{w.order()['id']}/mark-paid"), {"reference": "cash"}


def _secret(w: World) -> tuple[str, str, Any]:
    body = {"secret": f"sk_live_{unique('s')}"}
    return "PATCH", _on(w, f"/payment-methods/{w.ids['payment_method']}"), body


def _new_secret_method(w: World) -> tuple[str, str, Any]:
    body = {"code": unique("pm"), "provider": "stripe", "name": "Card", "secret": "sk_live_x"}
    return "POST", _on(w, "/payment-methods"), body


def _spend(w: World) -> tuple[str, str, Any]:
    return "POST", _on(w, "/credits/spend"), {"service": SERVICE, "idempotency_key": unique("k")}


def _add_staff(w: World) -> tuple[str, str, Any]:
    body = {"email": f"{unique('mole')}@example.com", "first_name": "Mole", "last_name": "M",
            "role": "admin", "password": STAFF_PASSWORD}  # fmt: skip
    return "POST", _on(w, "/staff"), body


def _plan(w: World) -> tuple[str, str, Any]:
    return "POST", _on(w, "/subscription"), {"plan": "free", "billing_cycle": "annual"}


def _tenant(w: World, conn: psycopg.Connection) -> Any:
    return w.fingerprint(conn)["tenant"]


def _ledger(w: World, conn: psycopg.Connection) -> Any:
    return conn.execute(
        "SELECT b.balance, (SELECT count(*) FROM credit_transactions t WHERE t.store_id = "
        "b.store_id), s.plan_id, s.billing_cycle, s.current_period_start FROM credit_balances b "
        "JOIN subscriptions s USING (store_id) WHERE b.store_id = %s",
        (w.store_id,),
    ).fetchone()


CASES = (
    Case("refund", Permission.ORDERS_REFUND, ("staff",), "admin", _refund, _tenant),
    Case("mark_paid", Permission.ORDERS_MARK_PAID, ("staff",), "admin", _mark_paid, _tenant),
    Case("payment_secret", Permission.PAYMENTS_MANAGE, ("staff",), "admin", _secret, _tenant),
    Case("payment_method_with_secret", Permission.PAYMENTS_MANAGE, ("staff",), "admin",
         _new_secret_method, _tenant),
    Case("credit_spend", Permission.CREDITS_SPEND, ("staff",), "admin", _spend, _ledger),
    Case("staff_creation", Permission.STAFF_MANAGE, ("staff",), "admin", _add_staff, _tenant),
    Case("subscription_change", Permission.SUBSCRIPTION_MANAGE, ("staff", "admin"), "owner", _plan,
         _ledger),
)  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_refused_call_writes_nothing_and_the_allowed_role_succeeds(
    world: World, case: Case, control_conn: psycopg.Connection
) -> None:
    request = case.request(world)
    before, everything = case.read(world, control_conn), world.fingerprint(control_conn)
    for role in case.denied:
        body = problem(send(world, request, world.as_(role)), 403)
        assert body["permission"] == case.permission, body
    assert case.read(world, control_conn) == before
    assert world.fingerprint(control_conn) == everything, "a refused call changed the store"
    response = send(world, request, world.as_(case.allowed))
    assert 200 <= response.status_code < 300, response.text
    assert case.read(world, control_conn) != before, "the allowed call changed nothing"


def test_role_matrix(world: World, control_conn: psycopg.Connection) -> None:
    """Last in the file: the owner's call of the last route deletes store A."""
    before = world.fingerprint(control_conn)
    for route in ROUTES:
        for member in world.b_members:
            response = send(world, route.request(world, member.role, allowed=False), member.headers)
            assert problem(response, 404)["detail"] == "Store not found", (member.role, route)
        for role in ROLES:
            if not allows(role, route.permission):
                request = route.request(world, role, allowed=False)
                body = problem(send(world, request, world.as_(role)), 403)
                assert body["permission"] == route.permission, (role, request)
    assert world.fingerprint(control_conn) == before, "a refused call changed store A"

    for route in ROUTES:
        for role in ROLES:
            if allows(role, route.permission):
                request = route.request(world, role, allowed=True)
                response = send(world, request, world.as_(role))
                assert response.status_code == route.expect, (role, request, response.text)
