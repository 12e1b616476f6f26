"""Password policy and argon2id hashing; hashing always runs off the event loop."""

from __future__ import annotations

from functools import partial

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from storefleet import blocking

__all__ = [
    "MAX_LENGTH",
    "MIN_LENGTH",
    "WeakPasswordError",
    "burn_verify",
    "check_strength",
    "get_default_hasher",
    "hash_password",
    "make_hasher",
    "set_default_hasher",
    "verify_password",
]

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_CLASSES = 2

_COMMON_PASSWORDS = frozenset(
    {
        "password123",
        "password1234",
        "password12345",
        "passw0rd123",
        "qwertyuiop",
        "qwerty12345",
        "qwerty123456",
        "1234567890",
        "12345678910",
        "0123456789",
        "1q2w3e4r5t",
        "1qaz2wsx3edc",
        "letmein123",
        "welcome123",
        "iloveyou123",
        "admin12345",
        "abc1234567",
        "abcdefghij",
        "changeme123",
        "football123",
        "baseball123",
        "monkey12345",
        "sunshine123",
        "trustno1234",
    }
)


class WeakPasswordError(ValueError):
    """Raised with a message that can be shown to the user as-is."""


def check_strength(password: str, *, email: str | None = None) -> None:
    """Reject passwords that are short, uniform, well known or derived from the email."""
    if not isinstance(password, str):
        raise WeakPasswordError("Password must be a string.")
    if len(password) < MIN_LENGTH:
        raise WeakPasswordError(f"Password must be at least {MIN_LENGTH} characters long.")
    if len(password) > MAX_LENGTH:
        raise WeakPasswordError(f"Password must be at most {MAX_LENGTH} characters long.")
    classes = (
        any(c.islower() for c in password),
        any(c.isupper() for c in password),
        any(c.isdigit() for c in password),
        any(not c.isalnum() for c in password),
    )
    if sum(classes) < MIN_CLASSES:
        raise WeakPasswordError(
            "Password must mix at least two of: lowercase letters, uppercase letters, "
            "digits, symbols."
        )
    if password.casefold() in _COMMON_PASSWORDS:
        raise WeakPasswordError("Password is too common; please choose a less predictable one.")
    if email:
        local = email.split("@", 1)[0].strip().casefold()
        if len(local) >= 3 and local in password.casefold():
            raise WeakPasswordError("Password must not contain your email address.")


def make_hasher(
    time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4
) -> PasswordHasher:
    """An argon2id hasher; memory_cost is in KiB."""
    return PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_cost,
        parallelism=parallelism,
        type=Type.ID,
    )


_default_hasher: PasswordHasher = make_hasher()
_dummy_hashes: dict[tuple[int, int, int, int, int], str] = {}


def set_default_hasher(hasher: PasswordHasher) -> None:
    """Swap the process-wide hasher (config, or cheap parameters in tests)."""
    global _default_hasher
    _default_hasher = hasher


def get_default_hasher() -> PasswordHasher:
    return _default_hasher


async def hash_password(password: str, hasher: PasswordHasher | None = None) -> str:
    h = hasher or _default_hasher
    return await blocking.hashing(h.hash, password)


def _verify_sync(
    hasher: PasswordHasher, stored_hash: str, password: str
) -> tuple[bool, str | None]:
    try:
        hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError, ValueError, TypeError):
        return False, None
    try:
        needs_rehash = hasher.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        needs_rehash = True
    return True, hasher.hash(password) if needs_rehash else None


async def verify_password(
    stored_hash: str, password: str, hasher: PasswordHasher | None = None
) -> tuple[bool, str | None]:
    """Return (ok, new_hash); new_hash is set when the stored parameters are outdated."""
    h = hasher or _default_hasher
    if not isinstance(stored_hash, str) or not isinstance(password, str):
        return False, None
    return await blocking.hashing(partial(_verify_sync, h, stored_hash, password))


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash with the hasher's own parameters, so a burn costs the same as a real verify."""
    params = (
        hasher.time_cost,
        hasher.memory_cost,
        hasher.parallelism,
        hasher.hash_len,
        hasher.salt_len,
    )
    cached = _dummy_hashes.get(params)
    if cached is None:
        cached = hasher.hash("storefleet-dummy-password")
        _dummy_hashes[params] = cached
    return cached


def _burn_sync(hasher: PasswordHasher, password: str) -> None:
    try:
        hasher.verify(_dummy_hash(hasher), password)
    except (VerificationError, InvalidHashError, ValueError, TypeError):
        pass


async def burn_verify(password: str, hasher: PasswordHasher | None = None) -> None:
    """Spend a verify's worth of time so unknown-email logins are not distinguishable."""
    h = hasher or _default_hasher
    await blocking.hashing(partial(_burn_sync, h, str(password)))
