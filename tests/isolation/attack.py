"""Helpers for the route-level cross-store attacks: two stores, their people, their routes.

``refused_then_allowed`` is how every attack test shows that its refusal is the wall and
not a renamed route, a body the route would refuse or a dead token: the same calls, made by
the rightful user of a store on that store's own rows, must succeed.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient

from storefleet.testing import Stores, bearer, unique_name

STOREFRONT = "/api/storefront/store"
STAFF_PASSWORD = "Staff-Passw0rd!x"
PROBLEM = "application/problem+json"
# The parts of a path that name a row: UUIDs and tokens (a cart token has 43 characters).
ROW_KEY = re.compile(r"[0-9A-Za-z_-]{32,}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Request = tuple[str, str, Any]  # method, path (with query), JSON body


@dataclass
class Side:
    """One store with an owner, an admin staff member and a hostname."""

    id: str
    name: str
    slug: str
    placement: str
    owner: dict[str, str]
    owner_email: str
    owner_password: str
    staff_id: str
    staff_email: str
    staff: dict[str, str]
    hostname: str
    hostname_id: str
    account: dict[str, object] = field(default_factory=dict, repr=False)

    @property
    def base(self) -> str:
        return f"/api/stores/{self.id}"


@dataclass
class Pair:
    a: Side
    b: Side
    # Every response given to A's credentials; none may carry B's name.
    seen: list[httpx.Response] = field(default_factory=list)


def check(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, (response.request.method, response.url, response.text)
    return response.json() if response.content else None


def staff_login(client: TestClient, store_id: str, email: str) -> dict[str, str]:
    body = {"store_id": store_id, "email": email, "password": STAFF_PASSWORD}
    token = check(client.post("/api/auth/staff/login", json=body), 200)["token"]
    return bearer(token)


def add_staff(
    client: TestClient,
    base: str,
    owner: dict[str, str],
    email: str,
    role: str,
    last_name: str = "Staff",
) -> dict[str, Any]:
    """A new staff member of the store at ``base`` (its API path), with ``STAFF_PASSWORD``."""
    body = {"email": email, "first_name": "Sam", "last_name": last_name, "role": role,
            "password": STAFF_PASSWORD}  # fmt: skip
    added: dict[str, Any] = check(client.post(f"{base}/staff", headers=owner, json=body), 201)
    return added


def make_side(
    client: TestClient,
    stores: Stores,
    placement: str,
    label: str,
    owner: dict[str, object] | None = None,
) -> Side:
    """A new store (of ``owner``'s account when given) with an admin and a hostname."""
    tag = unique_name(label).replace("_", "-")
    store = stores.create(placement, owner, name=f"Name {tag}")
    base = f"/api/stores/{store['id']}"
    owner: dict[str, str] = store["headers"]  # type: ignore[assignment]
    email = f"staff-{tag}@example.com"
    staff = add_staff(client, base, owner, email, "admin", last_name=label)
    hostname = f"{tag}.shop.example"
    host = check(client.post(f"{base}/hostnames", headers=owner, json={"hostname": hostname}), 201)
    return Side(
        id=str(store["id"]),
        name=str(store["name"]),
        slug=str(store["slug"]),
        placement=placement,
        owner=owner,
        owner_email=str(store["owner"]["user"]["email"]),  # type: ignore[index]
        owner_password=str(store["owner"]["password"]),  # type: ignore[index]
        staff_id=staff["id"],
        staff_email=email,
        staff=staff_login(client, str(store["id"]), email),
        hostname=hostname,
        hostname_id=host["id"],
        account=store["owner"],  # type: ignore[arg-type]
    )


def snapshot(client: TestClient, side: Side) -> dict[str, Any]:
    """Everything about a store its own owner can read, for before/after comparisons."""
    return {
        "store": check(client.get(side.base, headers=side.owner), 200),
        "profile": check(client.get(f"{side.base}/profile", headers=side.owner), 200),
        "hostnames": check(client.get(f"{side.base}/hostnames", headers=side.owner), 200),
        "staff": check(
            client.get(f"{side.base}/staff?include_inactive=true", headers=side.owner), 200
        ),
    }


def store_routes(
    store_id: str,
    victim: Side,
    other_placement: str,
    database_url: str = "postgresql://u:p@db.example.com:5432/postgres",
) -> list[Request]:
    """Every tenancy route of a store (``store_id`` in the path), with a body that would work.

    Sub-resource ids are the victim's own rows, so the only thing standing between the
    attacker and the victim's data is the store check. A real ``database_url`` makes the
    list one that the store's owner can run through (DELETEs last) as positive controls.
    """
    base = f"/api/stores/{store_id}"
    return [
        ("GET", base, None),
        ("PATCH", base, {"name": "Taken over"}),
        ("DELETE", base, None),
        ("POST", f"{base}/provision", None),
        ("POST", f"{base}/move", {"placement": other_placement}),
        ("POST", f"{base}/connect-database", {"database_url": database_url}),
        ("GET", f"{base}/hostnames", None),
        (
            "POST",
            f"{base}/hostnames",
            {"hostname": f"{unique_name('t').replace('_', '-')}.evil.example"},
        ),
        ("POST", f"{base}/hostnames/{victim.hostname_id}/verify", None),
        ("PATCH", f"{base}/hostnames/{victim.hostname_id}", {"primary": True}),
        ("DELETE", f"{base}/hostnames/{victim.hostname_id}", None),
        ("GET", f"{base}/profile", None),
        ("PATCH", f"{base}/profile", {"description": "Taken over", "published": False}),
        ("PATCH", f"{base}/config", {"theme": {"taken": True}}),
        ("GET", f"{base}/staff", None),
        ("GET", f"{base}/staff?include_inactive=true&role=admin", None),
        (
            "POST",
            f"{base}/staff",
            {
                "email": f"{unique_name('mole')}@example.com",
                "first_name": "Mole",
                "last_name": "Mole",
                "role": "admin",
                "password": STAFF_PASSWORD,
            },
        ),
        ("DELETE", f"{base}/staff/{victim.staff_id}", None),
    ]


def send(
    client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    return client.request(method, path, headers=headers, json=body)


def template(path: str) -> str:
    """The route a call goes to: its path with the row ids and tokens blanked out."""
    return ROW_KEY.sub("{id}", path)


def refused_then_allowed(
    client: TestClient,
    attacks: Sequence[Request],
    attacker: dict[str, str],
    controls: Sequence[Request],
    owner: dict[str, str],
    *,
    status: int = 404,
) -> list[httpx.Response]:
    """Every attack answers ``status`` (problem+json); then ``owner`` makes the same calls.

    ``controls[i]`` is ``attacks[i]`` as the rightful user of a store makes it on that
    store's own rows; see ``allowed``. Returns the attacks' answers for the caller's checks.
    """
    answers = refused(client, attacks, attacker, status=status)
    allowed(client, controls, owner, like=attacks)
    return answers


def refused(
    client: TestClient, attacks: Sequence[Request], attacker: dict[str, str], *, status: int
) -> list[httpx.Response]:
    """Each attack answers ``status`` as problem+json; pair it with ``allowed``."""
    answers = []
    for method, path, body in attacks:
        response = send(client, method, path, body, attacker)
        assert response.status_code == status, (method, path, response.text)
        assert response.headers["content-type"].startswith(PROBLEM), (method, path)
        answers.append(response)
    return answers


def allowed(
    client: TestClient,
    controls: Sequence[Request],
    owner: dict[str, str],
    *,
    like: Sequence[Request],
) -> list[httpx.Response]:
    """Positive controls: each call of ``like`` again, by ``owner`` with a body that works.

    ``controls`` pairs with ``like`` one to one, with the same method and path template, so
    a refusal in ``like`` cannot be a route that does not exist. Each distinct control must
    answer 2xx; a GET, PATCH or PUT of one row answers with that row, and a PATCH or PUT
    answers with the scalar fields it sent. DELETEs run last, in reverse order (a child row
    before its parent); other calls run in the order given.
    """
    routes = [(method, template(path)) for method, path, _ in like]
    assert routes == [(method, template(path)) for method, path, _ in controls]
    distinct: dict[tuple[str, str], Request] = {}
    for call in controls:
        distinct.setdefault(call[:2], call)
    deletes = [call for call in distinct.values() if call[0] == "DELETE"]
    ordered = [call for call in distinct.values() if call[0] != "DELETE"] + deletes[::-1]
    answers = []
    for method, path, body in ordered:
        response = send(client, method, path, body, owner)
        assert 200 <= response.status_code < 300, ("control", method, path, response.text)
        answer = response.json() if response.content else None
        row = path.split("?")[0].rsplit("/", 1)[-1]
        if method in {"GET", "PATCH", "PUT"} and UUID.fullmatch(row) and isinstance(answer, dict):
            assert answer.get("id", row) == row, ("control", method, path, answer)
        if method in {"PATCH", "PUT"} and isinstance(body, dict) and isinstance(answer, dict):
            sent = {
                k: v for k, v in body.items() if isinstance(v, str | int | bool) and k in answer
            }
            assert {k: answer[k] for k in sent} == sent, ("control", method, path, answer)
        answers.append(response)
    return answers


def with_store_id(headers: dict[str, str], store_id: str) -> dict[str, str]:
    """The same bearer token with its ``store_id`` claim rewritten; the signature is kept."""
    token = headers["Authorization"].removeprefix("Bearer ")
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["store_id"] = store_id
    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return bearer(f"{head}.{edited}.{signature}")


def random_id() -> str:
    return str(uuid.uuid4())
