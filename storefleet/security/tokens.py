"""HS256 access tokens with key ids; the algorithm is pinned before any verification."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from storefleet.security.keyring import validate_key_id

__all__ = ["ALGORITHM", "MAX_TOKEN_LENGTH", "TokenClaims", "TokenError", "TokenService"]

ALGORITHM = "HS256"
MAX_TOKEN_LENGTH = 8192
_REQUIRED = ["sub", "account_type", "role", "ver", "jti", "iat", "exp"]
_MIN_KEY_SIZE = 32


class TokenError(Exception):
    """Verification failed; the message is safe to return to the client."""


_INVALID = "Invalid token"
_EXPIRED = "Token expired"


@dataclass(frozen=True)
class TokenClaims:
    sub: str
    account_type: str
    role: str
    ver: int
    jti: str
    iat: int
    exp: int
    store_id: str | None = None


class TokenService:
    """Issues with the first key, verifies with any known key (for rotation)."""

    def __init__(
        self,
        keys: Sequence[tuple[str, bytes]],
        ttl: timedelta = timedelta(days=7),
        leeway: int = 0,
    ) -> None:
        keys = tuple(keys)
        if not keys:
            raise ValueError("TokenService needs at least one signing key.")
        by_kid: dict[str, bytes] = {}
        for kid, secret in keys:
            validate_key_id(kid)
            if not isinstance(secret, bytes) or len(secret) < _MIN_KEY_SIZE:
                raise ValueError(f"JWT key {kid!r} must be at least {_MIN_KEY_SIZE} bytes.")
            if kid in by_kid:
                raise ValueError(f"Duplicate JWT key id {kid!r}.")
            by_kid[kid] = secret
        if ttl <= timedelta(0):
            raise ValueError("Token ttl must be positive.")
        self._active_kid = keys[0][0]
        self._keys = by_kid
        self._ttl = ttl
        self._leeway = leeway

    @property
    def active_kid(self) -> str:
        return self._active_kid

    def issue(
        self,
        *,
        sub: str,
        account_type: str,
        role: str,
        ver: int,
        store_id: str | None = None,
        now: datetime | None = None,
    ) -> str:
        now = now or datetime.now(UTC)
        iat = int(now.timestamp())
        payload: dict[str, Any] = {
            "sub": sub,
            "account_type": account_type,
            "role": role,
            "ver": ver,
            "jti": uuid.uuid4().hex,
            "iat": iat,
            "exp": iat + int(self._ttl.total_seconds()),
        }
        if store_id is not None:
            payload["store_id"] = store_id
        return jwt.encode(
            payload,
            self._keys[self._active_kid],
            algorithm=ALGORITHM,
            headers={"kid": self._active_kid},
        )

    def verify(self, token: str) -> TokenClaims:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise TokenError(_INVALID)
        try:
            header = jwt.get_unverified_header(token)
        except Exception:
            raise TokenError(_INVALID) from None
        if header.get("alg") != ALGORITHM:
            raise TokenError(_INVALID)
        kid = header.get("kid")
        secret = self._keys.get(kid) if isinstance(kid, str) else None
        if secret is None:
            raise TokenError(_INVALID)
        try:
            payload = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                options={"require": _REQUIRED},
                leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError:
            raise TokenError(_EXPIRED) from None
        except Exception:
            raise TokenError(_INVALID) from None
        return _claims(payload)


def _claims(payload: dict[str, Any]) -> TokenClaims:
    """Type-check claims; PyJWT only checks presence, and bool is an int in Python."""
    for name in ("sub", "account_type", "role", "jti"):
        value = payload.get(name)
        if not isinstance(value, str) or not value:
            raise TokenError(_INVALID)
    for name in ("ver", "iat", "exp"):
        value = payload.get(name)
        if type(value) is not int:
            raise TokenError(_INVALID)
    store_id = payload.get("store_id")
    if store_id is not None and not isinstance(store_id, str):
        raise TokenError(_INVALID)
    return TokenClaims(
        sub=payload["sub"],
        account_type=payload["account_type"],
        role=payload["role"],
        ver=payload["ver"],
        jti=payload["jti"],
        iat=payload["iat"],
        exp=payload["exp"],
        store_id=store_id,
    )
