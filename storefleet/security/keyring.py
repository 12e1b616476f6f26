"""AES-256-GCM envelope encryption with key ids, so keys can rotate without downtime.

Blob layout: ``0x01 | kid_len (1 byte) | kid (ascii) | nonce (12 bytes) | ciphertext+tag``.
The header is bound into the GCM associated data together with the caller's context
(e.g. table/column/row id), so editing the header or moving a blob to another row fails.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "FORMAT_VERSION",
    "KEY_SIZE",
    "NONCE_SIZE",
    "DecryptionError",
    "Key",
    "Keyring",
    "KeyringError",
    "generate_key",
    "validate_key_id",
]

FORMAT_VERSION = 0x01
KEY_SIZE = 32
NONCE_SIZE = 12
_TAG_SIZE = 16
_KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")
_DECRYPT_FAILED = "Unable to decrypt value"


class KeyringError(Exception):
    """Misconfiguration or misuse of keys (never carries key material)."""


class DecryptionError(KeyringError):
    """A blob could not be decrypted; deliberately one message for every cause."""

    def __init__(self, message: str = _DECRYPT_FAILED) -> None:
        super().__init__(message)


def validate_key_id(key_id: str) -> str:
    """Key ids end up in blob headers and file names, so keep them short and plain."""
    if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
        raise KeyringError("Key id must be 1-32 characters of letters, digits, '_' or '-'.")
    return key_id


@dataclass(frozen=True)
class Key:
    """A named 256-bit AES key; the repr never shows the secret."""

    id: str
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        validate_key_id(self.id)
        if not isinstance(self.secret, bytes) or len(self.secret) != KEY_SIZE:
            raise KeyringError(f"Key {self.id!r} must be exactly {KEY_SIZE} bytes.")

    def __repr__(self) -> str:
        return f"Key(id={self.id!r}, secret=<redacted>)"


def generate_key(key_id: str | None = None) -> Key:
    """Create a fresh random key; default ids sort by creation time."""
    if key_id is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        key_id = f"k{stamp}{secrets.token_hex(2)}"
    return Key(id=key_id, secret=AESGCM.generate_key(bit_length=KEY_SIZE * 8))


def _header(key_id: str) -> bytes:
    kid = key_id.encode("ascii")
    return bytes([FORMAT_VERSION, len(kid)]) + kid


def _parse(blob: bytes) -> tuple[bytes, str, bytes, bytes]:
    """Split a blob into (header, key id, nonce, ciphertext) or raise DecryptionError."""
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise DecryptionError()
    data = bytes(blob)
    if len(data) < 2 or data[0] != FORMAT_VERSION:
        raise DecryptionError()
    kid_len = data[1]
    header_end = 2 + kid_len
    if kid_len == 0 or len(data) < header_end + NONCE_SIZE + _TAG_SIZE:
        raise DecryptionError()
    try:
        key_id = data[2:header_end].decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionError() from None
    if not _KEY_ID_RE.fullmatch(key_id):
        raise DecryptionError()
    nonce = data[header_end : header_end + NONCE_SIZE]
    ciphertext = data[header_end + NONCE_SIZE :]
    return data[:header_end], key_id, nonce, ciphertext


class Keyring:
    """An ordered set of keys: the first encrypts, all of them decrypt."""

    def __init__(
        self,
        keys: Sequence[Key],
        reload: Callable[[], Sequence[Key]] | None = None,
    ) -> None:
        self._state = self._index(self._validated(keys))
        self._reload = reload
        self._reload_lock = threading.Lock()

    @staticmethod
    def _index(keys: tuple[Key, ...]) -> tuple[tuple[Key, ...], dict[str, Key]]:
        return keys, {k.id: k for k in keys}

    @staticmethod
    def _validated(keys: Sequence[Key]) -> tuple[Key, ...]:
        keys = tuple(keys)
        if not keys:
            raise KeyringError("A keyring needs at least one key.")
        for key in keys:
            if not isinstance(key, Key):
                raise KeyringError("Keyring entries must be Key instances.")
        ids = [k.id for k in keys]
        if len(set(ids)) != len(ids):
            raise KeyringError("Keyring key ids must be unique.")
        return keys

    @property
    def active(self) -> Key:
        return self._state[0][0]

    @property
    def key_ids(self) -> list[str]:
        return [k.id for k in self._state[0]]

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        key = self._current_active()
        header = _header(key.id)
        nonce = os.urandom(NONCE_SIZE)
        ciphertext = AESGCM(key.secret).encrypt(nonce, bytes(plaintext), header + associated_data)
        return header + nonce + ciphertext

    def decrypt(self, blob: bytes, associated_data: bytes) -> bytes:
        header, key_id, nonce, ciphertext = _parse(blob)
        key = self._lookup(key_id)
        if key is None:
            raise DecryptionError()
        try:
            return AESGCM(key.secret).decrypt(nonce, ciphertext, header + associated_data)
        except InvalidTag:
            raise DecryptionError() from None

    def encrypt_text(self, plaintext: str, associated_data: str) -> bytes:
        return self.encrypt(plaintext.encode("utf-8"), associated_data.encode("utf-8"))

    def decrypt_text(self, blob: bytes, associated_data: str) -> str:
        data = self.decrypt(blob, associated_data.encode("utf-8"))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptionError() from None

    @staticmethod
    def key_id_of(blob: bytes) -> str:
        return _parse(blob)[1]

    def needs_rotation(self, blob: bytes) -> bool:
        return self.key_id_of(blob) != self.active.id

    def _current_active(self) -> Key:
        """The key the key source calls active now, reloaded before every encryption.

        A running server thus writes under a key that another process (``keys generate``)
        made active, without a restart, so ``keys rotate`` followed by ``keys remove``
        cannot strand a secret written meanwhile under the retired key. Encryption is rare
        (secrets are written, not read, on request paths), so the reload is affordable.
        """
        if self._reload is not None:
            try:
                keys = self._validated(self._reload())
            except Exception:
                return self.active
            if keys != self._state[0]:
                self._state = self._index(keys)
        return self.active

    def _lookup(self, key_id: str) -> Key | None:
        """Find a key, reloading once so keys added by another process are picked up."""
        key = self._state[1].get(key_id)
        if key is not None or self._reload is None:
            return key
        with self._reload_lock:
            key = self._state[1].get(key_id)
            if key is not None:
                return key
            try:
                state = self._index(self._validated(self._reload()))
            except Exception:
                return None
            # One reference swap, so readers never see keys and index out of step.
            self._state = state
            return state[1].get(key_id)
