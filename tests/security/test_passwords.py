from __future__ import annotations

import threading
from typing import Literal

import anyio
import pytest
from argon2 import PasswordHasher

from storefleet.security import passwords
from storefleet.security.passwords import (
    WeakPasswordError,
    burn_verify,
    check_strength,
    hash_password,
    make_hasher,
    verify_password,
)

CHEAP = make_hasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.mark.parametrize(
    ("password", "email", "fragment"),
    [
        ("Ab1!", None, "at least 10 characters"),
        ("x" * 257 + "1", None, "at most 256"),
        ("abcdefghijkl", None, "at least two of"),
        ("ABCDEFGHIJKL", None, "at least two of"),
        ("12345678901234", None, "at least two of"),
        ("Password123", None, "too common"),
        ("QWERTYUIOP", None, "at least two of"),
        ("qwerty12345", None, "too common"),
        ("LetMeIn123", None, "too common"),
        ("my-alice-pass-9", "Alice@example.com", "email"),
    ],
)
def test_weak_passwords_rejected(password: str, email: str | None, fragment: str) -> None:
    with pytest.raises(WeakPasswordError) as exc:
        check_strength(password, email=email)
    message = str(exc.value)
    assert fragment in message
    assert message.endswith(".")
    assert isinstance(exc.value, ValueError)


def test_min_length_message() -> None:
    with pytest.raises(
        WeakPasswordError, match=r"^Password must be at least 10 characters long\.$"
    ):
        check_strength("short1A")


@pytest.mark.parametrize(
    ("password", "email"),
    [
        ("correct horse battery", None),
        ("Tr0ub4dor&3x", None),
        ("blue-lantern-42", "al@example.com"),  # local part shorter than 3 chars
        ("blue-lantern-42", "bob@example.com"),
        ("x" * 255 + "1", None),
    ],
)
def test_strong_passwords_accepted(password: str, email: str | None) -> None:
    check_strength(password, email=email)


def test_hash_verify_round_trip() -> None:
    async def main() -> None:
        stored = await hash_password("correct horse battery", CHEAP)
        assert stored.startswith("$argon2id$")
        assert await verify_password(stored, "correct horse battery", CHEAP) == (True, None)
        assert await verify_password(stored, "wrong horse battery", CHEAP) == (False, None)

    anyio.run(main)


def test_rehash_when_parameters_change() -> None:
    stronger = make_hasher(time_cost=2, memory_cost=2048, parallelism=1)

    async def main() -> None:
        stored = await hash_password("correct horse battery", CHEAP)
        ok, new_hash = await verify_password(stored, "correct horse battery", stronger)
        assert ok is True
        assert new_hash is not None and new_hash != stored
        assert "m=2048,t=2,p=1" in new_hash
        assert await verify_password(new_hash, "correct horse battery", stronger) == (True, None)
        assert await verify_password(stored, "nope nope nope", stronger) == (False, None)

    anyio.run(main)


@pytest.mark.parametrize(
    "stored",
    ["", "not a hash", "$argon2id$v=19$m=1024,t=1,p=1$garbage", "$2b$12$abcdefghijklmnopqrstuv"],
)
def test_malformed_stored_hash(stored: str) -> None:
    assert anyio.run(verify_password, stored, "whatever123", CHEAP) == (False, None)


def test_hashing_runs_in_worker_thread() -> None:
    seen: list[int] = []

    class SpyHasher(PasswordHasher):
        def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
            seen.append(threading.get_ident())
            return super().hash(password, salt=salt)

        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            seen.append(threading.get_ident())
            return super().verify(hash, password)

    spy = SpyHasher(time_cost=1, memory_cost=1024, parallelism=1)

    async def main() -> int:
        stored = await hash_password("correct horse battery", spy)
        await verify_password(stored, "correct horse battery", spy)
        await burn_verify("anything at all", spy)
        return threading.get_ident()

    loop_thread = anyio.run(main)
    assert len(seen) >= 3
    assert loop_thread not in seen


def test_default_hasher_swappable() -> None:
    original = passwords.get_default_hasher()
    try:
        passwords.set_default_hasher(CHEAP)
        stored = anyio.run(hash_password, "correct horse battery")
        assert "m=1024,t=1,p=1" in stored
        assert anyio.run(verify_password, stored, "correct horse battery") == (True, None)
    finally:
        passwords.set_default_hasher(original)


def test_burn_verify_returns_none_for_any_input() -> None:
    assert anyio.run(burn_verify, "whatever123", CHEAP) is None
    assert anyio.run(burn_verify, "", CHEAP) is None
