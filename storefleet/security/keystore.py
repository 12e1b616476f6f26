"""Key material on disk (``<home>/keys.json``) with environment overrides.

The file is created 0600 and always rewritten atomically, so a crash or a concurrent
reader never sees a half-written key file. Environment variables win over the file so
deployments can keep keys in a secret manager instead of on disk.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storefleet.security.keyring import Key, KeyringError, generate_key, validate_key_id

try:
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ENV_JWT_KEYS",
    "ENV_KEYRING",
    "JWT_KEY_SIZE",
    "KEYS_FILENAME",
    "KeyMaterial",
    "add_jwt_key",
    "add_keyring_key",
    "generate_jwt_key",
    "keys_path",
    "load_or_create",
    "reload_keyring_keys",
    "remove_jwt_key",
    "remove_keyring_key",
]

KEYS_FILENAME = "keys.json"
ENV_KEYRING = "STOREFLEET_KEYRING"
ENV_JWT_KEYS = "STOREFLEET_JWT_KEYS"
JWT_KEY_SIZE = 64
_MIN_JWT_KEY_SIZE = 32
_KEYRING = "keyring"
_JWT = "jwt"

JwtKey = tuple[str, bytes]


@dataclass(frozen=True)
class KeyMaterial:
    """Everything the app needs to encrypt fields and sign tokens; first entry = active."""

    keyring_keys: tuple[Key, ...] = field(repr=False)
    jwt_keys: tuple[JwtKey, ...] = field(repr=False)

    def __repr__(self) -> str:
        return (
            f"KeyMaterial(keyring_keys={[k.id for k in self.keyring_keys]!r}, "
            f"jwt_keys={[kid for kid, _ in self.jwt_keys]!r})"
        )


def keys_path(home: Path) -> Path:
    return Path(home) / KEYS_FILENAME


def generate_jwt_key(key_id: str | None = None) -> JwtKey:
    """A fresh HMAC secret; reuses the keyring's time-sortable id scheme."""
    kid = key_id if key_id is not None else generate_key().id
    return validate_key_id(kid), secrets.token_bytes(JWT_KEY_SIZE)


def load_or_create(home: Path, *, env: Mapping[str, str] | None = None) -> KeyMaterial:
    """Resolve keys from env first, then the file, generating missing file sections."""
    env = os.environ if env is None else env
    keyring_env = _env_keyring(env)
    jwt_env = _env_jwt(env)
    if keyring_env is not None and jwt_env is not None:
        return KeyMaterial(keyring_keys=keyring_env, jwt_keys=jwt_env)

    with _locked(home):
        data = _read(home)
        changed = False
        if keyring_env is None and not data.get(_KEYRING):
            key = generate_key()
            data[_KEYRING] = [_dump_entry(key.id, key.secret)]
            changed = True
        if jwt_env is None and not data.get(_JWT):
            data[_JWT] = [_dump_entry(*generate_jwt_key())]
            changed = True
        if changed:
            _write(home, data)

    return KeyMaterial(
        keyring_keys=keyring_env if keyring_env is not None else _keyring_from(data),
        jwt_keys=jwt_env if jwt_env is not None else _jwt_from(data),
    )


def reload_keyring_keys(home: Path, *, env: Mapping[str, str] | None = None) -> tuple[Key, ...]:
    """Fresh keyring keys for ``Keyring(reload=...)``; honours the env override like load."""
    env = os.environ if env is None else env
    keyring_env = _env_keyring(env)
    if keyring_env is not None:
        return keyring_env
    keys = _keyring_from(_read(home))
    if not keys:
        raise KeyringError(f"No keyring keys in {keys_path(home)}.")
    return keys


def add_keyring_key(home: Path) -> Key:
    """Generate a key and make it active; older keys stay for decrypting old data."""
    with _locked(home):
        data = _read(home)
        existing = _keyring_from(data)
        key = generate_key()
        while key.id in {k.id for k in existing}:
            key = generate_key()
        data[_KEYRING] = [_dump_entry(k.id, k.secret) for k in (key, *existing)]
        _write(home, data)
    return key


def remove_keyring_key(home: Path, key_id: str) -> None:
    """Drop a retired key; refuses the active key because new data depends on it."""
    with _locked(home):
        data = _read(home)
        keys = _keyring_from(data)
        _check_removable(key_id, [k.id for k in keys], "keyring")
        data[_KEYRING] = [_dump_entry(k.id, k.secret) for k in keys if k.id != key_id]
        _write(home, data)


def add_jwt_key(home: Path) -> str:
    """Generate a signing key and make it active; returns its kid (never the secret)."""
    with _locked(home):
        data = _read(home)
        existing = _jwt_from(data)
        kid, secret = generate_jwt_key()
        while kid in {k for k, _ in existing}:
            kid, secret = generate_jwt_key()
        data[_JWT] = [_dump_entry(k, s) for k, s in ((kid, secret), *existing)]
        _write(home, data)
    return kid


def remove_jwt_key(home: Path, key_id: str) -> None:
    """Drop a retired signing key; tokens signed with it stop verifying."""
    with _locked(home):
        data = _read(home)
        keys = _jwt_from(data)
        _check_removable(key_id, [k for k, _ in keys], "JWT")
        data[_JWT] = [_dump_entry(k, s) for k, s in keys if k != key_id]
        _write(home, data)


def _check_removable(key_id: str, ids: list[str], kind: str) -> None:
    if key_id not in ids:
        raise KeyringError(f"Unknown {kind} key id {key_id!r}.")
    if ids[0] == key_id:
        raise KeyringError(
            f"Refusing to remove the active {kind} key {key_id!r}; add a new key first."
        )


def _b64decode(value: str, where: str) -> bytes:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"Invalid base64 key in {where}.") from None


def _parse_env(raw: str, var: str) -> list[JwtKey]:
    entries: list[JwtKey] = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        kid, sep, b64 = part.partition(":")
        if not sep:
            raise KeyringError(f"{var} entries must look like 'key_id:base64'.")
        entries.append((validate_key_id(kid.strip()), _b64decode(b64, var)))
    if not entries:
        raise KeyringError(f"{var} is set but contains no keys.")
    _check_unique([kid for kid, _ in entries], var)
    return entries


def _env_keyring(env: Mapping[str, str]) -> tuple[Key, ...] | None:
    raw = env.get(ENV_KEYRING)
    if raw is None or not raw.strip():
        return None
    return tuple(Key(id=kid, secret=secret) for kid, secret in _parse_env(raw, ENV_KEYRING))


def _env_jwt(env: Mapping[str, str]) -> tuple[JwtKey, ...] | None:
    raw = env.get(ENV_JWT_KEYS)
    if raw is None or not raw.strip():
        return None
    return tuple(_checked_jwt(kid, s, ENV_JWT_KEYS) for kid, s in _parse_env(raw, ENV_JWT_KEYS))


def _checked_jwt(kid: str, secret: bytes, where: str) -> JwtKey:
    if len(secret) < _MIN_JWT_KEY_SIZE:
        raise KeyringError(
            f"JWT key {kid!r} in {where} must be at least {_MIN_JWT_KEY_SIZE} bytes."
        )
    return kid, secret


def _check_unique(ids: list[str], where: str) -> None:
    if len(set(ids)) != len(ids):
        raise KeyringError(f"Duplicate key ids in {where}.")


def _entries(data: dict[str, Any], section: str, where: str) -> list[JwtKey]:
    raw = data.get(section) or []
    if not isinstance(raw, list):
        raise KeyringError(f"Section {section!r} in {where} must be a list.")
    out: list[JwtKey] = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise KeyringError(f"Malformed entry in section {section!r} of {where}.")
        if not isinstance(item.get("key"), str):
            raise KeyringError(f"Malformed entry in section {section!r} of {where}.")
        out.append((validate_key_id(item["id"]), _b64decode(item["key"], where)))
    _check_unique([kid for kid, _ in out], where)
    return out


def _keyring_from(data: dict[str, Any]) -> tuple[Key, ...]:
    return tuple(Key(id=kid, secret=s) for kid, s in _entries(data, _KEYRING, KEYS_FILENAME))


def _jwt_from(data: dict[str, Any]) -> tuple[JwtKey, ...]:
    return tuple(
        _checked_jwt(kid, s, KEYS_FILENAME) for kid, s in _entries(data, _JWT, KEYS_FILENAME)
    )


def _dump_entry(kid: str, secret: bytes) -> dict[str, str]:
    return {"id": kid, "key": base64.b64encode(secret).decode("ascii")}


def _read(home: Path) -> dict[str, Any]:
    path = keys_path(home)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise KeyringError(f"{path} is not valid JSON.") from None
    if not isinstance(data, dict):
        raise KeyringError(f"{path} must contain a JSON object.")
    return data


def _write(home: Path, data: dict[str, Any]) -> None:
    """Write via a 0600 temp file in the same directory, then atomically replace."""
    home = Path(home)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".keys-", suffix=".tmp", dir=home)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, keys_path(home))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(home, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    """Serialise read-modify-write across processes (CLI vs. running server)."""
    home = Path(home)
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    if fcntl is None:  # pragma: no cover - non-POSIX
        yield
        return
    fd = os.open(home / f".{KEYS_FILENAME}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
