from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from storefleet.security.keyring import Keyring, KeyringError
from storefleet.security.keystore import (
    add_jwt_key,
    add_keyring_key,
    keys_path,
    load_or_create,
    reload_keyring_keys,
    remove_jwt_key,
    remove_keyring_key,
)

NO_ENV: dict[str, str] = {}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_creates_file_0600_with_both_sections(tmp_path: Path) -> None:
    home = tmp_path / "nested" / "home"
    material = load_or_create(home, env=NO_ENV)

    path = keys_path(home)
    assert path == home / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert len(data["keyring"]) == 1 and len(data["jwt"]) == 1
    assert base64.b64decode(data["keyring"][0]["key"]) == material.keyring_keys[0].secret
    assert len(base64.b64decode(data["jwt"][0]["key"])) == 64
    assert data["jwt"][0]["id"] == material.jwt_keys[0][0]
    assert [p.name for p in home.iterdir() if p.name.endswith(".tmp")] == []


def test_repr_hides_secrets(tmp_path: Path) -> None:
    material = load_or_create(tmp_path, env=NO_ENV)
    text = repr(material)
    assert material.keyring_keys[0].id in text
    assert material.keyring_keys[0].secret.hex() not in text
    assert repr(material.jwt_keys[0][1]) not in text


def test_second_load_returns_same_keys(tmp_path: Path) -> None:
    first = load_or_create(tmp_path, env=NO_ENV)
    before = keys_path(tmp_path).read_bytes()
    second = load_or_create(tmp_path, env=NO_ENV)
    assert first == second
    assert keys_path(tmp_path).read_bytes() == before


def test_missing_section_is_generated_and_other_kept(tmp_path: Path) -> None:
    first = load_or_create(tmp_path, env=NO_ENV)
    data = json.loads(keys_path(tmp_path).read_text())
    del data["jwt"]
    keys_path(tmp_path).write_text(json.dumps(data))
    second = load_or_create(tmp_path, env=NO_ENV)
    assert second.keyring_keys == first.keyring_keys
    assert second.jwt_keys != first.jwt_keys
    assert "jwt" in json.loads(keys_path(tmp_path).read_text())


def test_env_override(tmp_path: Path) -> None:
    k1, k2, j1 = os.urandom(32), os.urandom(32), os.urandom(48)
    env = {
        "STOREFLEET_KEYRING": f"envnew:{_b64(k1)}, envold:{_b64(k2)}",
        "STOREFLEET_JWT_KEYS": f"jwtenv:{_b64(j1)}",
    }
    material = load_or_create(tmp_path, env=env)
    assert [k.id for k in material.keyring_keys] == ["envnew", "envold"]
    assert material.keyring_keys[0].secret == k1
    assert material.jwt_keys == (("jwtenv", j1),)
    assert not keys_path(tmp_path).exists()


def test_partial_env_override_uses_file_for_rest(tmp_path: Path) -> None:
    from_file = load_or_create(tmp_path, env=NO_ENV)
    secret = os.urandom(32)
    material = load_or_create(tmp_path, env={"STOREFLEET_KEYRING": f"envk:{_b64(secret)}"})
    assert [k.id for k in material.keyring_keys] == ["envk"]
    assert material.jwt_keys == from_file.jwt_keys
    assert (
        reload_keyring_keys(tmp_path, env={"STOREFLEET_KEYRING": f"envk:{_b64(secret)}"})[0].id
        == "envk"
    )


@pytest.mark.parametrize(
    "value",
    ["nocolon", f"bad id:{_b64(bytes(range(32)))}", "k1:not-base64!!", f"k1:{_b64(b'short')}"],
    ids=["no-colon", "bad-key-id", "not-base64", "short-key"],
)
def test_bad_env_keyring_rejected(tmp_path: Path, value: str) -> None:
    with pytest.raises(KeyringError):
        load_or_create(tmp_path, env={"STOREFLEET_KEYRING": value})


def test_short_env_jwt_key_rejected(tmp_path: Path) -> None:
    with pytest.raises(KeyringError):
        load_or_create(tmp_path, env={"STOREFLEET_JWT_KEYS": f"j:{_b64(b'x' * 8)}"})


def test_add_key_becomes_active_and_old_kept(tmp_path: Path) -> None:
    original = load_or_create(tmp_path, env=NO_ENV).keyring_keys[0]
    added = add_keyring_key(tmp_path)
    material = load_or_create(tmp_path, env=NO_ENV)
    assert material.keyring_keys[0] == added
    assert material.keyring_keys[1] == original
    assert added.id != original.id
    assert stat.S_IMODE(keys_path(tmp_path).stat().st_mode) == 0o600


def test_remove_active_refused(tmp_path: Path) -> None:
    active = load_or_create(tmp_path, env=NO_ENV).keyring_keys[0]
    with pytest.raises(KeyringError, match="active"):
        remove_keyring_key(tmp_path, active.id)
    assert load_or_create(tmp_path, env=NO_ENV).keyring_keys[0] == active


def test_remove_unknown_refused(tmp_path: Path) -> None:
    load_or_create(tmp_path, env=NO_ENV)
    with pytest.raises(KeyringError, match="Unknown"):
        remove_keyring_key(tmp_path, "nope")


def test_remove_old_key_works(tmp_path: Path) -> None:
    old = load_or_create(tmp_path, env=NO_ENV).keyring_keys[0]
    new = add_keyring_key(tmp_path)
    remove_keyring_key(tmp_path, old.id)
    assert load_or_create(tmp_path, env=NO_ENV).keyring_keys == (new,)


def test_reload_feeds_running_keyring(tmp_path: Path) -> None:
    material = load_or_create(tmp_path, env=NO_ENV)
    ring = Keyring(material.keyring_keys, reload=lambda: reload_keyring_keys(tmp_path, env=NO_ENV))
    # Another process (the CLI) adds a key and encrypts with it.
    add_keyring_key(tmp_path)
    other = Keyring(reload_keyring_keys(tmp_path, env=NO_ENV))
    blob = other.encrypt(b"data", b"ad")
    assert ring.decrypt(blob, b"ad") == b"data"
    assert ring.active.id == other.active.id


def test_jwt_key_add_and_remove(tmp_path: Path) -> None:
    old_kid = load_or_create(tmp_path, env=NO_ENV).jwt_keys[0][0]
    new_kid = add_jwt_key(tmp_path)
    kids = [kid for kid, _ in load_or_create(tmp_path, env=NO_ENV).jwt_keys]
    assert kids == [new_kid, old_kid]
    with pytest.raises(KeyringError):
        remove_jwt_key(tmp_path, new_kid)
    remove_jwt_key(tmp_path, old_kid)
    assert [kid for kid, _ in load_or_create(tmp_path, env=NO_ENV).jwt_keys] == [new_kid]


def test_corrupt_file_reports_without_content(tmp_path: Path) -> None:
    keys_path(tmp_path).write_text('{"keyring": [{"id": "k1", "key": "SECRETSTUFF"')
    with pytest.raises(KeyringError) as exc:
        load_or_create(tmp_path, env=NO_ENV)
    assert "SECRETSTUFF" not in str(exc.value)
