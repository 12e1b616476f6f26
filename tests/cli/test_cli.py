"""The ``storefleet`` command against the module's control database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet import __version__
from storefleet.cli.main import app as cli
from storefleet.config import get_settings


@pytest.fixture
def runner(tmp_path: Path, control_db: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("STOREFLEET_HOME", str(tmp_path))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    monkeypatch.setenv("STOREFLEET_ARGON2_MEMORY_COST", "1024")
    monkeypatch.setenv("STOREFLEET_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("STOREFLEET_ARGON2_PARALLELISM", "1")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_db_upgrade_and_status(runner: CliRunner) -> None:
    up = runner.invoke(cli, ["db", "upgrade"])
    assert up.exit_code == 0, up.output
    status = runner.invoke(cli, ["db", "status"])
    assert status.exit_code == 0, status.output
    assert "up to date" in status.output


def test_db_status_reports_behind(runner: CliRunner, control_conn: psycopg.Connection) -> None:
    (head,) = control_conn.execute("SELECT version_num FROM alembic_version").fetchone()
    control_conn.execute("UPDATE alembic_version SET version_num = 'c0001'")
    try:
        status = runner.invoke(cli, ["db", "status"])
        assert status.exit_code == 1
        assert "behind" in status.output
    finally:
        control_conn.execute("UPDATE alembic_version SET version_num = %s", (head,))


def test_accounts_create_and_list(runner: CliRunner, control_conn: psycopg.Connection) -> None:
    created = runner.invoke(
        cli,
        ["accounts", "create", "cli@example.com", "--first-name", "Cli", "--admin"],
        input="Cl1-Password-ok\nCl1-Password-ok\n",
    )
    assert created.exit_code == 0, created.output
    row = control_conn.execute(
        "SELECT account_type, password_hash FROM accounts WHERE email = 'cli@example.com'"
    ).fetchone()
    assert row is not None and row[0] == "platform_admin"
    assert row[1].startswith("$argon2id$")
    dup = runner.invoke(
        cli, ["accounts", "create", "CLI@example.com"], input="Cl1-Password-ok\nCl1-Password-ok\n"
    )
    assert dup.exit_code == 1
    assert "already exists" in dup.output
    weak = runner.invoke(cli, ["accounts", "create", "weak@example.com"], input="abc\nabc\n")
    assert weak.exit_code == 1
    listed = runner.invoke(cli, ["accounts", "list"])
    assert listed.exit_code == 0
    assert "cli@example.com" in listed.output
    assert "$argon2" not in listed.output


def test_keys_list_shows_ids_not_keys(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["keys", "list"])
    assert result.exit_code == 0
    import json

    material = json.loads((tmp_path / "keys.json").read_text())
    assert material["keyring"][0]["id"] in result.output
    assert material["keyring"][0]["key"] not in result.output
