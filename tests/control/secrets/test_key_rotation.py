"""Key rotation over real stored secrets, through the CLI."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL
from typer.testing import CliRunner

from storefleet.cli.main import app as cli
from storefleet.config import get_settings
from storefleet.control.secrets import service as secrets
from storefleet.runtime import Runtime
from storefleet.security.keyring import DecryptionError, Keyring
from storefleet.testing import make_settings

VALUES = {"stripe.secret_key": "sk_test_abc'123", "stripe.webhook_secret": "whsec_x", "other": "ü"}


@pytest.fixture
def cli_env(tmp_path: Path, control_db: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("STOREFLEET_HOME", str(tmp_path))
    monkeypatch.setenv("STOREFLEET_DATABASE_URL", control_db.render_as_string(hide_password=False))
    monkeypatch.delenv("STOREFLEET_KEYRING", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _run(coro_fn, home: Path, control_db: URL):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        runtime = Runtime.build(make_settings(home, control_db), control_db)
        try:
            return await coro_fn(runtime)
        finally:
            await runtime.aclose()

    return asyncio.run(main())


def _key_ids(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("SELECT ciphertext FROM platform_secrets").fetchall()
    return {Keyring.key_id_of(bytes(r[0])) for r in rows}


def test_rotation_reencrypts_everything_and_old_key_can_go(
    cli_env: Path, control_db: URL, control_conn: psycopg.Connection
) -> None:
    control_conn.execute("DELETE FROM platform_secrets")

    async def seed(runtime: Runtime) -> str:
        async with runtime.control_sessions() as s, s.begin():
            for name, value in VALUES.items():
                await secrets.put_platform_secret(s, runtime.keyring, name, value)
        return runtime.keyring.active.id

    old_kid = _run(seed, cli_env, control_db)
    assert _key_ids(control_conn) == {old_kid}
    runner = CliRunner()

    generated = runner.invoke(cli, ["keys", "generate"])
    assert generated.exit_code == 0, generated.output
    keys = json.loads((cli_env / "keys.json").read_text())["keyring"]
    new_kid = keys[0]["id"]
    assert new_kid != old_kid and [k["id"] for k in keys] == [new_kid, old_kid]
    assert keys[0]["key"] not in generated.output

    refused = runner.invoke(cli, ["keys", "remove", old_kid])
    assert refused.exit_code == 1
    assert "still use" in refused.output

    rotated = runner.invoke(cli, ["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert "re-encrypted 3" in rotated.output
    assert _key_ids(control_conn) == {new_kid}

    removed = runner.invoke(cli, ["keys", "remove", old_kid])
    assert removed.exit_code == 0, removed.output
    assert [k["id"] for k in json.loads((cli_env / "keys.json").read_text())["keyring"]] == [
        new_kid
    ]

    async def read_all(runtime: Runtime) -> dict[str, str | None]:
        assert runtime.keyring.key_ids == [new_kid]
        async with runtime.control_sessions() as s:
            return {n: await secrets.get_platform_secret(s, runtime.keyring, n) for n in VALUES}

    assert _run(read_all, cli_env, control_db) == VALUES

    again = runner.invoke(cli, ["keys", "rotate"])
    assert "re-encrypted 0" in again.output


def test_ciphertext_copied_to_another_row_does_not_decrypt(
    tmp_path: Path, control_db: URL, control_conn: psycopg.Connection
) -> None:
    async def seed(runtime: Runtime) -> None:
        async with runtime.control_sessions() as s, s.begin():
            await secrets.put_platform_secret(s, runtime.keyring, "row.a", "secret-a")
            await secrets.put_platform_secret(s, runtime.keyring, "row.b", "secret-b")

    _run(seed, tmp_path, control_db)
    control_conn.execute(
        "UPDATE platform_secrets SET ciphertext = "
        "(SELECT ciphertext FROM platform_secrets WHERE name = 'row.a') WHERE name = 'row.b'"
    )

    async def read(runtime: Runtime) -> None:
        async with runtime.control_sessions() as s:
            assert await secrets.get_platform_secret(s, runtime.keyring, "row.a") == "secret-a"
            with pytest.raises(DecryptionError):
                await secrets.get_platform_secret(s, runtime.keyring, "row.b")

    _run(read, tmp_path, control_db)


def test_a_running_process_encrypts_under_a_key_another_process_generated(
    cli_env: Path, control_db: URL, control_conn: psycopg.Connection
) -> None:
    """Else it would keep writing under a key that ``keys remove`` may already have dropped."""

    async def generate_then_write(runtime: Runtime) -> tuple[str, str]:
        before = runtime.keyring.active.id
        generated = CliRunner().invoke(cli, ["keys", "generate"])
        assert generated.exit_code == 0, generated.output
        async with runtime.control_sessions() as s, s.begin():
            await secrets.put_platform_secret(s, runtime.keyring, "after.generate", "v")
        return before, runtime.keyring.active.id

    before, after = _run(generate_then_write, cli_env, control_db)
    new = json.loads((cli_env / "keys.json").read_text())["keyring"][0]["id"]
    assert before != new and after == new
    row = control_conn.execute(
        "SELECT ciphertext FROM platform_secrets WHERE name = 'after.generate'"
    ).fetchone()
    assert row is not None and Keyring.key_id_of(bytes(row[0])) == new
