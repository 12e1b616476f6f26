"""Key rotation reaches every store's secrets: owner databases and tenant payment methods.

One module-wide app (the "running server") and the ``storefleet keys`` CLI share a home,
so they share ``keys.json`` the way a server and an operator's shell do. Stores live in
every placement; one sits on an owner-supplied database on a second PostgreSQL server
(the system one on 127.0.0.1:5432), like ``tests/tenancy/test_connect_database.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql
from sqlalchemy import select
from sqlalchemy.engine import URL
from typer.testing import CliRunner, Result

from storefleet.api.app import create_app
from storefleet.cli.main import app as cli
from storefleet.commerce.payments import service as payments
from storefleet.commerce.payments.models import PaymentMethod
from storefleet.config import get_settings
from storefleet.db.urls import libpq_conninfo
from storefleet.runtime import Runtime
from storefleet.security.keyring import Key, Keyring
from storefleet.testing import TEST_ENV, Accounts, Stores, make_settings
from tests.scramserver import ScramServer
from tests.tenancy.move_helpers import call, runtime_of
from tests.tenancy.test_connect_database import ExternalDb

T = TypeVar("T")
SECRET_COLUMN = "payment_methods.secret_ciphertext"
CREDENTIALS_COLUMN = "store_databases.credentials_ciphertext"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys-home")


@pytest.fixture(scope="module")
def client(home: Path, control_db: URL) -> Iterator[TestClient]:
    """The running server: its keyring is loaded once, at start."""
    app = create_app(make_settings(home, control_db), control_db)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def stores(client: TestClient) -> Stores:
    return Stores(client, Accounts(client))


@pytest.fixture(scope="module")
def owner_server(scram_pg: ScramServer) -> URL:
    """The second server an owner's database lives on (checks passwords with SCRAM)."""
    return scram_pg.url()


class OwnerDbs(list[ExternalDb]):
    """The owner databases a module made, on ``server``; dropped at the end."""

    def __init__(self, server: URL) -> None:
        super().__init__()
        self.server = server


@pytest.fixture(scope="module")
def owner_dbs(owner_server: URL) -> Iterator[list[ExternalDb]]:
    made = OwnerDbs(owner_server)
    yield made
    for db in made:
        db.drop()


@pytest.fixture
def runner(home: Path, control_db: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """``storefleet`` as an operator runs it, against the server's home and control plane."""
    monkeypatch.setenv("STOREFLEET_HOME", str(home))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    monkeypatch.setenv("STOREFLEET_ENVIRONMENT", "test")
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STOREFLEET_KEYRING", raising=False)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def keys(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(cli, ["keys", *args])


def keyring_file(home: Path) -> list[Key]:
    entries = json.loads((home / "keys.json").read_text())["keyring"]
    return [Key(id=e["id"], secret=base64.b64decode(e["key"])) for e in entries]


def with_fresh_runtime(home: Path, control_db: URL, fn: Callable[[Runtime], Awaitable[T]]) -> T:
    """``fn`` in a new process's runtime: it knows only the keys in the file now."""

    async def main() -> T:
        runtime = Runtime.build(make_settings(home, control_db), control_db)
        try:
            return await fn(runtime)
        finally:
            await runtime.aclose()

    return asyncio.run(main())


def add_method(client: TestClient, store: dict[str, Any], secret: str) -> str:
    response = client.post(
        f"/api/stores/{store['id']}/payment-methods",
        headers=store["headers"],
        json={
            "code": f"stripe-{uuid.uuid4().hex[:6]}",
            "provider": "stripe",
            "name": "Cards",
            "secret": secret,
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["has_secret"] is True
    return str(response.json()["id"])


def store_with_secret(
    client: TestClient, stores: Stores, placement: str, owner_dbs: list[ExternalDb] | None = None
) -> dict[str, Any]:
    """A store in ``placement`` ("owner": on an owner database) holding one method secret."""
    store: dict[str, Any] = stores.create("pool" if placement == "owner" else placement)
    if placement == "owner":
        assert isinstance(owner_dbs, OwnerDbs)
        db = ExternalDb(owner_dbs.server)
        owner_dbs.append(db)
        response = client.post(
            f"/api/stores/{store['id']}/connect-database",
            headers=store["headers"],
            json={"database_url": db.url()},
        )
        assert response.status_code == 200, response.text
        store["owner_db"] = db
    store["secret"] = f"sk_test_{placement}_{uuid.uuid4().hex}"
    store["method_id"] = add_method(client, store, store["secret"])
    return store


async def method_secrets(runtime: Runtime, store_id: str) -> dict[str, tuple[str, str | None]]:
    """Each method's (key id, decrypted secret), read in the store's own session."""
    async with runtime.tenancy.session(uuid.UUID(store_id), write=False) as s:
        methods = (await s.execute(select(PaymentMethod))).scalars().all()
        return {
            str(m.id): (
                Keyring.key_id_of(bytes(m.secret_ciphertext)),
                payments.decrypt_secret(runtime.keyring, m),
            )
            for m in methods
            if m.secret_ciphertext is not None
        }


async def set_secret_with(
    runtime: Runtime, keyring: Keyring, store: dict[str, Any], secret: str
) -> None:
    """A write by a process whose keyring is ``keyring`` (e.g. one that never reloads)."""
    async with runtime.tenancy.session(uuid.UUID(store["id"])) as s:
        await payments.update_method(s, keyring, uuid.UUID(store["method_id"]), {"secret": secret})


def credentials_key_id(control_conn: psycopg.Connection, store_id: str) -> str:
    row = control_conn.execute(
        "SELECT credentials_ciphertext FROM store_databases WHERE store_id = %s", (store_id,)
    ).fetchone()
    assert row is not None and row[0] is not None
    return Keyring.key_id_of(bytes(row[0]))


def test_generate_rotate_remove_and_every_store_still_works(
    client: TestClient,
    stores: Stores,
    owner_dbs: list[ExternalDb],
    runner: CliRunner,
    home: Path,
    control_db: URL,
    control_conn: psycopg.Connection,
) -> None:
    fleet = {
        p: store_with_secret(client, stores, p, owner_dbs)
        for p in ("pool", "schema", "database", "owner")
    }
    owner = fleet["owner"]
    old = keyring_file(home)[0].id
    assert credentials_key_id(control_conn, owner["id"]) == old

    generated = keys(runner, "generate")
    assert generated.exit_code == 0, generated.output
    new = keyring_file(home)[0].id
    assert new != old

    refused = keys(runner, "remove", old)
    assert refused.exit_code == 1, refused.output
    assert "still use" in refused.output
    assert SECRET_COLUMN in refused.output and CREDENTIALS_COLUMN in refused.output
    for placement, store in fleet.items():
        assert store["id"] in refused.output, placement

    rotated = keys(runner, "rotate")
    assert rotated.exit_code == 0, rotated.output
    assert SECRET_COLUMN in rotated.output and CREDENTIALS_COLUMN in rotated.output
    assert "re-encrypting secrets" in rotated.output
    assert credentials_key_id(control_conn, owner["id"]) == new

    removed = keys(runner, "remove", old)
    assert removed.exit_code == 0, removed.output
    assert [k.id for k in keyring_file(home)] == [new]

    # A new process knows only the new key: every secret of every placement decrypts.
    async def read_everything(runtime: Runtime) -> dict[str, dict[str, tuple[str, str | None]]]:
        return {p: await method_secrets(runtime, s["id"]) for p, s in fleet.items()}

    for placement, secrets in with_fresh_runtime(home, control_db, read_everything).items():
        store = fleet[placement]
        assert secrets == {store["method_id"]: (new, store["secret"])}, placement

    # The running server loaded only the old key at start; it reads what another process
    # re-encrypted, owner database credentials included once its cache is dropped.
    runtime = runtime_of(client)
    runtime.tenancy.invalidate()
    for placement, store in fleet.items():
        listed = client.get(f"/api/stores/{store['id']}/payment-methods", headers=store["headers"])
        assert listed.status_code == 200, (placement, listed.text)
        assert [m["has_secret"] for m in listed.json()["items"]] == [True]
        assert call(client, method_secrets, runtime, store["id"]) == {
            store["method_id"]: (new, store["secret"])
        }
        edited = client.patch(
            f"/api/stores/{store['id']}/profile",
            headers=store["headers"],
            json={"description": f"after rotation to {new}"},
        )
        assert edited.status_code == 200, (placement, edited.text)
    with owner["owner_db"].superuser_conn() as conn:
        row = conn.execute(
            "SELECT description FROM tenant.stores WHERE store_id = %s", (owner["id"],)
        ).fetchone()
        assert row == (f"after rotation to {new}",)

    again = keys(runner, "rotate")
    assert again.exit_code == 0, again.output
    assert "re-encrypted 0 secrets" in again.output


@pytest.mark.parametrize("placement", ["pool", "schema", "database", "owner"])
def test_remove_refuses_while_a_tenant_secret_uses_the_key(
    placement: str,
    request: pytest.FixtureRequest,
    client: TestClient,
    stores: Stores,
    runner: CliRunner,
    home: Path,
    control_db: URL,
) -> None:
    owner_dbs = request.getfixturevalue("owner_dbs") if placement == "owner" else None
    store = store_with_secret(client, stores, placement, owner_dbs)
    retired = keyring_file(home)[0]
    assert keys(runner, "generate").exit_code == 0
    rotated = keys(runner, "rotate")
    assert rotated.exit_code == 0, rotated.output
    # A process that never heard of the new key writes this store's secret.
    call(client, set_secret_with, runtime_of(client), Keyring([retired]), store, "sk_test_stale")

    refused = keys(runner, "remove", retired.id)
    assert refused.exit_code == 1, refused.output
    assert "1 secrets still use" in refused.output
    assert store["id"] in refused.output and SECRET_COLUMN in refused.output
    assert retired.id in [k.id for k in keyring_file(home)]

    assert keys(runner, "rotate").exit_code == 0
    removed = keys(runner, "remove", retired.id)
    assert removed.exit_code == 0, removed.output
    secrets = with_fresh_runtime(home, control_db, lambda rt: method_secrets(rt, str(store["id"])))
    assert secrets == {store["method_id"]: (keyring_file(home)[0].id, "sk_test_stale")}


def test_an_unreachable_store_makes_rotate_and_remove_refuse_naming_it(
    client: TestClient,
    stores: Stores,
    owner_dbs: list[ExternalDb],
    runner: CliRunner,
    home: Path,
    owner_server: URL,
) -> None:
    store = store_with_secret(client, stores, "owner", owner_dbs)
    db: ExternalDb = store["owner_db"]
    retired = keyring_file(home)[0].id
    assert keys(runner, "generate").exit_code == 0

    def allow_connections(allowed: bool) -> None:
        with psycopg.connect(libpq_conninfo(owner_server), autocommit=True) as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                    sql.Identifier(db.name), sql.Literal(allowed)
                )
            )
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (db.name,),
            )

    allow_connections(False)
    try:
        rotated = keys(runner, "rotate")
        assert rotated.exit_code == 1, rotated.output
        assert "stores not rotated" in rotated.output and store["id"] in rotated.output
        assert "cannot be reached" in rotated.output
        refused = keys(runner, "remove", retired)
        assert refused.exit_code == 1, refused.output
        assert store["id"] in refused.output and "could not be reached" in refused.output
        assert retired in [k.id for k in keyring_file(home)]
    finally:
        allow_connections(True)

    assert keys(runner, "rotate").exit_code == 0
    removed = keys(runner, "remove", retired)
    assert removed.exit_code == 0, removed.output
