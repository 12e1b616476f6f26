"""Key rotation while the platform serves: concurrent writes survive, interrupted runs resume,
and no encrypted column can be left out of the registry."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, LargeBinary, MetaData, Table, Text
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.commerce.payments import service as payments
from storefleet.control.secrets.registry import (
    PLAIN_BINARY,
    complete_registry,
    control_columns,
    unregistered_columns,
)
from storefleet.control.secrets.rotation import RotationReport, list_stores, rotate_all
from storefleet.db.base import ControlBase
from storefleet.db.urls import libpq_conninfo
from storefleet.runtime import Runtime
from storefleet.security.keyring import Keyring
from storefleet.tenancy.base import TenantBase
from storefleet.testing import Stores
from tests.control.secrets.test_key_rotation_stores import (  # noqa: F401 (fixtures)
    client,
    home,
    keyring_file,
    keys,
    method_secrets,
    runner,
    store_with_secret,
    stores,
    with_fresh_runtime,
)
from tests.tenancy.move_helpers import call, runtime_of

WAIT_SECONDS = 30


class Interrupted(Exception):
    pass


def _rotation_waits_on_a_row_lock(pg_server: URL) -> bool:
    with psycopg.connect(libpq_conninfo(pg_server.set(database="postgres"))) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE 'UPDATE \"payment_methods\"%'"
        ).fetchone()
        return bool(row and row[0])


def test_a_secret_written_during_rotation_is_kept_and_rotated(
    client: TestClient,  # noqa: F811
    stores: Stores,  # noqa: F811
    runner: CliRunner,  # noqa: F811
    home: Path,  # noqa: F811
    control_db: URL,
    pg_server: URL,
) -> None:
    store = store_with_secret(client, stores, "pool")
    retired = keyring_file(home)[0]
    assert keys(runner, "generate").exit_code == 0
    new = keyring_file(home)[0].id
    locked, release = threading.Event(), threading.Event()

    async def write_and_hold() -> None:
        """A request of a process still on the old key, its transaction open."""
        runtime = runtime_of(client)
        async with runtime.tenancy.session(uuid.UUID(store["id"])) as s:
            await payments.update_method(
                s, Keyring([retired]), uuid.UUID(store["method_id"]), {"secret": "sk_test_new"}
            )
            locked.set()
            await asyncio.to_thread(release.wait, WAIT_SECONDS)

    writer = threading.Thread(target=call, args=(client, write_and_hold))
    writer.start()
    assert locked.wait(WAIT_SECONDS)
    reports: list[RotationReport] = []
    rotation = threading.Thread(
        target=lambda: reports.append(with_fresh_runtime(home, control_db, rotate_all))
    )
    rotation.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not _rotation_waits_on_a_row_lock(pg_server):
        assert time.monotonic() < deadline, "rotation never reached the locked row"
        time.sleep(0.05)
    release.set()
    writer.join(WAIT_SECONDS)
    rotation.join(WAIT_SECONDS)

    (report,) = reports
    assert report.complete, report
    found = with_fresh_runtime(home, control_db, lambda rt: method_secrets(rt, store["id"]))
    assert found == {store["method_id"]: (new, "sk_test_new")}


def test_an_interrupted_rotation_is_finished_by_running_it_again(
    client: TestClient,  # noqa: F811
    stores: Stores,  # noqa: F811
    runner: CliRunner,  # noqa: F811
    home: Path,  # noqa: F811
    control_db: URL,
) -> None:
    fleet = [store_with_secret(client, stores, p) for p in ("pool", "schema", "database") * 2]
    assert keys(runner, "generate").exit_code == 0
    new = keyring_file(home)[0].id

    async def rotate_until_one_store_is_done(runtime: Runtime) -> None:
        steps_before_stores = len(control_columns(complete_registry()))

        def stop_after_one_store(done: int, total: int) -> None:
            if done > steps_before_stores:
                raise Interrupted

        await rotate_all(runtime, concurrency=2, batch_size=1, on_progress=stop_after_one_store)

    async def key_ids(runtime: Runtime) -> list[str]:
        """The key id of every method secret of every store (this test's and earlier ones)."""
        found = []
        for ref in await list_stores(runtime.control_engine):
            found += [kid for kid, _ in (await method_secrets(runtime, str(ref.store_id))).values()]
        return found

    with pytest.raises(Interrupted):
        with_fresh_runtime(home, control_db, rotate_until_one_store_is_done)
    halfway = with_fresh_runtime(home, control_db, key_ids)
    assert new in halfway and set(halfway) != {new}

    resumed = keys(runner, "rotate")
    assert resumed.exit_code == 0, resumed.output
    assert set(with_fresh_runtime(home, control_db, key_ids)) == {new}
    again = keys(runner, "rotate")
    assert "re-encrypted 0 secrets" in again.output
    for store in fleet:
        found = call(client, method_secrets, runtime_of(client), store["id"])
        assert found == {store["method_id"]: (new, store["secret"])}


def test_a_fresh_process_knows_every_encrypted_column() -> None:
    """What ``storefleet keys`` loads alone equals what the whole app registers."""
    script = (
        "import json, sys\n"
        "from storefleet.control.secrets.registry import complete_registry\n"
        "alone = sorted(c.label for c in complete_registry())\n"
        "import storefleet.api.app, storefleet.cli.main\n"
        "everything = sorted(c.label for c in complete_registry())\n"
        "json.dump([alone, everything], sys.stdout)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True, timeout=120
    )
    alone, everything = json.loads(out.stdout)
    assert alone == everything
    assert {
        "store_databases.credentials_ciphertext",
        "payment_methods.secret_ciphertext",
        "platform_secrets.ciphertext",
        "database_servers.admin_url_ciphertext",
        "store_payment_credentials.ciphertext",
    } <= set(alone)


def test_an_unregistered_binary_column_is_named() -> None:
    assert unregistered_columns(ControlBase.metadata, TenantBase.metadata) == []
    tenant = MetaData()
    for table in TenantBase.metadata.tables.values():
        table.to_metadata(tenant)
    Table("api_tokens", tenant, Column("id", Text, primary_key=True), Column("blob", LargeBinary))
    Table(
        "digests",
        tenant,
        Column("id", Text, primary_key=True),
        Column("digest", LargeBinary, info={PLAIN_BINARY: "a digest"}),
    )
    assert unregistered_columns(ControlBase.metadata, tenant) == ["api_tokens.blob"]
