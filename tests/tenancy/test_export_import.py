"""``stores export`` / ``stores import``: one file, verified against its manifest on load."""

from __future__ import annotations

import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet import __version__
from storefleet.cli.main import app as cli
from storefleet.config import Settings, get_settings
from storefleet.control.placements.store_files import (
    export_to_file,
    import_from_file,
    store_location,
)
from storefleet.runtime import TENANT_METADATA
from storefleet.tenancy.datacopy import VerificationError, clear_store
from storefleet.testing import PLACEMENTS, Stores
from tests.tenancy.move_helpers import add_staff, call, edit_profile, fingerprint, runtime_of


@pytest.fixture
def runner(
    settings: Settings, control_db: URL, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CliRunner]:
    """The CLI on the module's control database and keys (same home as the app)."""
    monkeypatch.setenv("STOREFLEET_HOME", str(settings.home))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def wipe(client: TestClient, store_id: uuid.UUID) -> None:
    runtime = runtime_of(client)
    location = call(client, store_location, runtime, store_id)
    assert call(client, clear_store, location, store_id) > 0


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_export_wipe_import_restores_identical_rows(
    client: TestClient, stores: Stores, placement: str, tmp_path: Path
) -> None:
    runtime = runtime_of(client)
    store = stores.create(placement)
    sid = uuid.UUID(str(store["id"]))
    neighbour = stores.create(placement)
    nid = uuid.UUID(str(neighbour["id"]))
    edit_profile(client, store, description="exported", settings={"k": "v"})
    call(client, add_staff, runtime, sid, 4, "exp")
    before = call(client, fingerprint, runtime, sid)
    neighbour_before = call(client, fingerprint, runtime, nid)

    path = tmp_path / "store.zip"
    manifest = call(client, export_to_file, runtime, sid, path)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        stored = json.loads(zf.read("manifest.json"))
    assert stored == manifest
    assert manifest["store_id"] == str(sid) and manifest["storefleet_version"] == __version__
    assert {t["name"]: (t["rows"], t["checksum"]) for t in manifest["tables"]} == {
        k: (v.rows, v.checksum) for k, v in before.items()
    }
    assert {t["file"] for t in manifest["tables"]} | {"manifest.json"} == names

    wipe(client, sid)
    assert all(s.rows == 0 for s in call(client, fingerprint, runtime, sid).values())
    store_id, stats = call(client, import_from_file, runtime, path)
    assert store_id == sid
    assert call(client, fingerprint, runtime, sid) == before == stats
    assert call(client, fingerprint, runtime, nid) == neighbour_before
    profile = client.get(f"/api/stores/{sid}/profile", headers=store["headers"]).json()
    assert profile["description"] == "exported"


def test_cli_export_import_and_refusals(
    client: TestClient, stores: Stores, runner: CliRunner, tmp_path: Path
) -> None:
    runtime = runtime_of(client)
    store = stores.create("schema")
    sid = uuid.UUID(str(store["id"]))
    call(client, add_staff, runtime, sid, 2, "cli")
    before = call(client, fingerprint, runtime, sid)
    path = tmp_path / "cli.zip"

    exported = runner.invoke(cli, ["stores", "export", str(sid), str(path)])
    assert exported.exit_code == 0, exported.output
    rows = sum(stat.rows for stat in before.values())
    assert f"exported {rows} rows in {len(TENANT_METADATA.sorted_tables)} tables" in " ".join(
        exported.output.split()
    )

    refused = runner.invoke(cli, ["stores", "import", str(path)])
    assert refused.exit_code == 1 and "already has data" in " ".join(refused.output.split())

    wipe(client, sid)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "manifest.json":
                manifest = json.loads(data)
                for table in manifest["tables"]:
                    if table["name"] == "users":
                        table["checksum"] = "0" * 32
                data = json.dumps(manifest).encode()
            dst.writestr(item, data)
    bad = runner.invoke(cli, ["stores", "import", str(tampered)])
    assert bad.exit_code == 1 and "does not match" in " ".join(bad.output.split())
    assert all(s.rows == 0 for s in call(client, fingerprint, runtime, sid).values())

    stranger = tmp_path / "stranger.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(stranger, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "manifest.json":
                data = json.dumps(json.loads(data) | {"store_id": str(uuid.uuid4())}).encode()
            dst.writestr(item, data)
    missing = runner.invoke(cli, ["stores", "import", str(stranger)])
    assert missing.exit_code == 1 and "does not exist" in " ".join(missing.output.split())

    not_export = tmp_path / "junk.zip"
    not_export.write_bytes(b"not a zip")
    junk = runner.invoke(cli, ["stores", "import", str(not_export)])
    assert junk.exit_code == 1 and "not a storefleet export" in " ".join(junk.output.split())

    imported = runner.invoke(cli, ["stores", "import", str(path)])
    assert imported.exit_code == 0, imported.output
    assert f"imported {rows} rows" in " ".join(imported.output.split())
    assert call(client, fingerprint, runtime, sid) == before


def test_import_checks_the_rows_it_loaded(
    client: TestClient, stores: Stores, tmp_path: Path, control_conn: psycopg.Connection
) -> None:
    runtime = runtime_of(client)
    store = stores.create("pool")
    sid = uuid.UUID(str(store["id"]))
    path = tmp_path / "p.zip"
    call(client, export_to_file, runtime, sid, path)
    wipe(client, sid)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    rewritten = tmp_path / "rows.zip"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(rewritten, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "manifest.json":
                for table in manifest["tables"]:
                    if table["name"] == "stores":
                        table["rows"] = 2
                data = json.dumps(manifest).encode()
            dst.writestr(item, data)
    with pytest.raises(VerificationError):
        call(client, import_from_file, runtime, rewritten)
    assert call(client, fingerprint, runtime, sid)["stores"].rows == 0


def test_import_of_broken_streams_and_manifests_names_the_file(
    client: TestClient, stores: Stores, runner: CliRunner, tmp_path: Path
) -> None:
    runtime = runtime_of(client)
    store = stores.create("pool")
    sid = uuid.UUID(str(store["id"]))
    path = tmp_path / "good.zip"
    call(client, export_to_file, runtime, sid, path)
    before = call(client, fingerprint, runtime, sid)
    wipe(client, sid)

    def rewritten(name: str, changes: dict[str, bytes]) -> Path:
        out = tmp_path / name
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
            for item in src.namelist():
                dst.writestr(item, changes.get(item, src.read(item)))
        return out

    with zipfile.ZipFile(path) as zf:
        rows = zf.read("tables/stores.copy")
        manifest = json.loads(zf.read("manifest.json"))
    truncated = rewritten("truncated.zip", {"tables/stores.copy": rows[: len(rows) // 2]})
    for table in manifest["tables"]:
        if table["name"] == "users":
            table["columns"] = table["columns"][1:]
    fewer_columns = rewritten("columns.zip", {"manifest.json": json.dumps(manifest).encode()})
    manifest["tables"][0]["rows"] = "many"
    bad_manifest = rewritten("manifest.zip", {"manifest.json": json.dumps(manifest).encode()})

    for crafted, said in (
        (truncated, "the export's table stores cannot be loaded"),
        (fewer_columns, "has other columns than the tenant schema"),
        (bad_manifest, "bad manifest: tables.0.rows"),
    ):
        result = runner.invoke(cli, ["stores", "import", str(crafted)])
        assert result.exit_code == 1, (crafted, result.output)
        assert said in " ".join(result.output.split())
        assert all(s.rows == 0 for s in call(client, fingerprint, runtime, sid).values())

    assert runner.invoke(cli, ["stores", "import", str(path)]).exit_code == 0
    assert call(client, fingerprint, runtime, sid) == before
