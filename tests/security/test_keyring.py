from __future__ import annotations

import pytest

from storefleet.security.keyring import (
    DecryptionError,
    Key,
    Keyring,
    KeyringError,
    generate_key,
)

AD = b"customers:email:42"


def _flip(blob: bytes, index: int) -> bytes:
    data = bytearray(blob)
    data[index] ^= 0x01
    return bytes(data)


def test_round_trip_bytes_and_text() -> None:
    ring = Keyring([generate_key("k1")])
    blob = ring.encrypt(b"secret value", AD)
    assert blob[0] == 0x01
    assert Keyring.key_id_of(blob) == "k1"
    assert b"secret value" not in blob
    assert ring.decrypt(blob, AD) == b"secret value"

    text_blob = ring.encrypt_text("héllo ✓", "row-1")
    assert ring.decrypt_text(text_blob, "row-1") == "héllo ✓"


def test_empty_plaintext_round_trip() -> None:
    ring = Keyring([generate_key()])
    assert ring.decrypt(ring.encrypt(b"", AD), AD) == b""


def test_same_plaintext_encrypts_differently() -> None:
    ring = Keyring([generate_key()])
    a = ring.encrypt(b"same", AD)
    b = ring.encrypt(b"same", AD)
    assert a != b
    assert ring.decrypt(a, AD) == ring.decrypt(b, AD) == b"same"


def test_tampered_ciphertext_fails() -> None:
    ring = Keyring([generate_key("k1")])
    blob = ring.encrypt(b"secret value", AD)
    for index in (len(blob) - 1, len(blob) - 20, 2 + len("k1") + 1):
        with pytest.raises(DecryptionError):
            ring.decrypt(_flip(blob, index), AD)


def test_tampered_header_fails() -> None:
    ring = Keyring([generate_key("k1"), generate_key("k2")])
    blob = ring.encrypt(b"secret value", AD)
    with pytest.raises(DecryptionError):
        ring.decrypt(b"\x02" + blob[1:], AD)
    # Relabel the blob as encrypted by the other known key.
    relabelled = blob[:2] + b"k2" + blob[4:]
    assert Keyring.key_id_of(relabelled) == "k2"
    with pytest.raises(DecryptionError):
        ring.decrypt(relabelled, AD)
    with pytest.raises(DecryptionError):
        ring.decrypt(blob[:1] + bytes([blob[1] + 1]) + blob[2:], AD)


def test_header_is_authenticated_even_with_same_secret() -> None:
    a = generate_key("ka")
    b = Key(id="kb", secret=a.secret)
    ring = Keyring([a, b])
    blob = ring.encrypt(b"secret value", AD)
    relabelled = blob[:2] + b"kb" + blob[4:]
    with pytest.raises(DecryptionError):
        ring.decrypt(relabelled, AD)


def test_blob_moved_to_other_row_fails() -> None:
    ring = Keyring([generate_key()])
    blob = ring.encrypt(b"alice@example.com", b"customers:email:1")
    with pytest.raises(DecryptionError):
        ring.decrypt(blob, b"customers:email:2")
    with pytest.raises(DecryptionError):
        ring.decrypt_text(blob, "customers:email:2")


def test_unknown_key_id_fails() -> None:
    blob = Keyring([generate_key("k1")]).encrypt(b"x", AD)
    with pytest.raises(DecryptionError):
        Keyring([generate_key("k2")]).decrypt(blob, AD)


def test_same_id_different_secret_fails() -> None:
    blob = Keyring([generate_key("k1")]).encrypt(b"x", AD)
    with pytest.raises(DecryptionError):
        Keyring([generate_key("k1")]).decrypt(blob, AD)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x01",
        b"\x01\x00",
        b"\x01\x05ab",
        b"\x01\x02k1" + b"\x00" * 20,
        b"\x01\x02\xff\xfe" + b"\x00" * 40,
    ],
)
def test_malformed_blobs_fail(blob: bytes) -> None:
    ring = Keyring([generate_key("k1")])
    with pytest.raises(DecryptionError):
        ring.decrypt(blob, AD)


def test_error_message_is_uniform_and_leaks_nothing() -> None:
    key = generate_key("k1")
    ring = Keyring([key])
    blob = ring.encrypt(b"x", AD)
    messages = set()
    for bad in (_flip(blob, len(blob) - 1), b"junk"):
        with pytest.raises(DecryptionError) as exc:
            ring.decrypt(bad, AD)
        messages.add(str(exc.value))
    with pytest.raises(DecryptionError) as exc:
        ring.decrypt(blob, b"other")
    messages.add(str(exc.value))
    assert len(messages) == 1
    assert key.secret.hex() not in messages.pop()


def test_rotation_decrypts_old_and_flags_rotation() -> None:
    old, new = generate_key("old"), generate_key("new")
    old_blob = Keyring([old]).encrypt(b"payload", AD)

    ring = Keyring([new, old])
    assert ring.active.id == "new"
    assert ring.key_ids == ["new", "old"]
    assert ring.decrypt(old_blob, AD) == b"payload"
    assert ring.needs_rotation(old_blob) is True

    rotated = ring.encrypt(ring.decrypt(old_blob, AD), AD)
    assert ring.needs_rotation(rotated) is False
    assert Keyring([new]).decrypt(rotated, AD) == b"payload"
    with pytest.raises(DecryptionError):
        Keyring([new]).decrypt(old_blob, AD)


def test_reload_hook_picks_up_new_key() -> None:
    old, added = generate_key("old"), generate_key("added")
    calls: list[int] = []

    def reload() -> list[Key]:
        calls.append(1)
        return [added, old]

    ring = Keyring([old], reload=reload)
    blob = Keyring([added]).encrypt(b"from another process", AD)
    assert ring.decrypt(blob, AD) == b"from another process"
    assert calls == [1]
    assert ring.active.id == "added"
    assert ring.key_ids == ["added", "old"]
    # Now known: no further reload.
    assert ring.decrypt(blob, AD) == b"from another process"
    assert calls == [1]


def test_reload_once_then_fail_for_truly_unknown_key() -> None:
    calls: list[int] = []
    known = generate_key("known")

    def reload() -> list[Key]:
        calls.append(1)
        return [known]

    ring = Keyring([known], reload=reload)
    blob = Keyring([generate_key("stranger")]).encrypt(b"x", AD)
    with pytest.raises(DecryptionError):
        ring.decrypt(blob, AD)
    assert calls == [1]


def test_failing_reload_gives_decryption_error() -> None:
    def reload() -> list[Key]:
        raise OSError("disk gone")

    ring = Keyring([generate_key("a")], reload=reload)
    blob = Keyring([generate_key("b")]).encrypt(b"x", AD)
    with pytest.raises(DecryptionError):
        ring.decrypt(blob, AD)
    assert ring.key_ids == ["a"]


def test_key_repr_hides_secret() -> None:
    key = generate_key("k1")
    text = repr(key) + str(key)
    assert "k1" in text
    assert key.secret.hex() not in text
    assert repr(key.secret) not in text
    assert "redacted" in text


def test_key_validation() -> None:
    with pytest.raises(KeyringError):
        Key(id="k1", secret=b"short")
    with pytest.raises(KeyringError):
        Key(id="k1", secret=b"\x00" * 33)
    with pytest.raises(KeyringError):
        Key(id="", secret=b"\x00" * 32)
    with pytest.raises(KeyringError):
        Key(id="x" * 33, secret=b"\x00" * 32)
    with pytest.raises(KeyringError):
        Key(id="bad id!", secret=b"\x00" * 32)
    assert Key(id="A-b_9", secret=b"\x00" * 32).id == "A-b_9"


def test_keyring_validation() -> None:
    with pytest.raises(KeyringError):
        Keyring([])
    with pytest.raises(KeyringError):
        Keyring([generate_key("dup"), generate_key("dup")])


def test_generate_key_defaults() -> None:
    a, b = generate_key(), generate_key()
    assert len(a.secret) == 32
    assert a.secret != b.secret
    assert a.id != b.id
    assert a.id.startswith("k") and len(a.id) == len("k20261122T021500") + 4
