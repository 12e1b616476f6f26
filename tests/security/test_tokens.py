from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from storefleet.security.tokens import ALGORITHM, TokenClaims, TokenError, TokenService

SECRET = b"s" * 64
OTHER = b"o" * 64
CLAIMS: dict[str, Any] = {"sub": "user-1", "account_type": "staff", "role": "owner", "ver": 3}


def _service(*keys: tuple[str, bytes]) -> TokenService:
    return TokenService(list(keys) or [("k1", SECRET)])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _payload(**overrides: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    payload = {**CLAIMS, "jti": "abc", "iat": now, "exp": now + 3600}
    payload.update(overrides)
    return payload


def test_round_trip() -> None:
    svc = _service()
    now = datetime.now(UTC)
    token = svc.issue(**CLAIMS, store_id="store-9", now=now)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256" and header["kid"] == "k1"
    claims = svc.verify(token)
    assert isinstance(claims, TokenClaims)
    assert (claims.sub, claims.account_type, claims.role, claims.ver) == (
        "user-1",
        "staff",
        "owner",
        3,
    )
    assert claims.store_id == "store-9"
    assert claims.iat == int(now.timestamp())
    assert claims.exp == claims.iat + 7 * 24 * 3600
    assert len(claims.jti) == 32 and int(claims.jti, 16) >= 0
    assert svc.verify(svc.issue(**CLAIMS)).store_id is None
    assert svc.verify(svc.issue(**CLAIMS)).jti != claims.jti


def test_alg_none_refused() -> None:
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": "k1"}).encode())
    body = _b64url(json.dumps(_payload()).encode())
    with pytest.raises(TokenError, match=r"^Invalid token$"):
        _service().verify(f"{header}.{body}.")
    with pytest.raises(TokenError):
        _service().verify(f"{header}.{body}.{_b64url(b'x')}")


def test_hs512_with_right_secret_refused() -> None:
    token = jwt.encode(_payload(), SECRET, algorithm="HS512", headers={"kid": "k1"})
    with pytest.raises(TokenError):
        _service().verify(token)


def test_rs256_token_refused() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_payload(), private, algorithm="RS256", headers={"kid": "k1"})
    with pytest.raises(TokenError):
        _service().verify(token)


def test_expired_refused() -> None:
    svc = TokenService([("k1", SECRET)], ttl=timedelta(minutes=5))
    token = svc.issue(**CLAIMS, now=datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(TokenError, match=r"^Token expired$"):
        svc.verify(token)


def test_leeway_allows_small_clock_skew() -> None:
    svc = TokenService([("k1", SECRET)], ttl=timedelta(seconds=60), leeway=120)
    token = svc.issue(**CLAIMS, now=datetime.now(UTC) - timedelta(seconds=90))
    assert svc.verify(token).sub == "user-1"


def test_tampered_signature_refused() -> None:
    svc = _service()
    token = svc.issue(**CLAIMS)
    head, body, sig = token.split(".")
    raw = bytearray(_b64url_decode(sig))
    raw[0] ^= 0x01
    with pytest.raises(TokenError, match=r"^Invalid token$"):
        svc.verify(f"{head}.{body}.{_b64url(bytes(raw))}")


def test_edited_claims_refused() -> None:
    svc = _service()
    token = svc.issue(**CLAIMS)
    head, body, sig = token.split(".")
    payload = json.loads(_b64url_decode(body))
    payload["sub"] = "admin"
    forged = f"{head}.{_b64url(json.dumps(payload).encode())}.{sig}"
    with pytest.raises(TokenError):
        svc.verify(forged)


def test_unknown_kid_refused() -> None:
    token = _service(("other", OTHER)).issue(**CLAIMS)
    with pytest.raises(TokenError):
        _service().verify(token)
    # Right secret, but a kid the service does not know.
    token = jwt.encode(_payload(), SECRET, algorithm="HS256", headers={"kid": "k9"})
    with pytest.raises(TokenError):
        _service().verify(token)
    token = jwt.encode(_payload(), SECRET, algorithm="HS256")
    with pytest.raises(TokenError):
        _service().verify(token)


@pytest.mark.parametrize("missing", ["sub", "account_type", "role", "ver", "jti", "iat", "exp"])
def test_missing_claim_refused(missing: str) -> None:
    payload = _payload()
    del payload[missing]
    token = jwt.encode(payload, SECRET, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(TokenError):
        _service().verify(token)


@pytest.mark.parametrize(
    "overrides",
    [{"ver": "3"}, {"ver": True}, {"ver": 1.5}, {"store_id": 5}, {"role": 1}, {"sub": ""}],
)
def test_wrong_claim_types_refused(overrides: dict[str, Any]) -> None:
    token = jwt.encode(_payload(**overrides), SECRET, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(TokenError):
        _service().verify(token)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "abc",
        "a.b.c",
        "...",
        "eyJhbGciOiJIUzI1NiJ9..",
        base64.b64encode(os.urandom(7500)).decode(),
        ".".join(_b64url(os.urandom(3000)) for _ in range(3)),
        None,
        123,
        b"a.b.c",
    ],
)
def test_garbage_refused(garbage: Any) -> None:
    with pytest.raises(TokenError, match=r"^Invalid token$"):
        _service().verify(garbage)


def test_old_kid_still_verifies_after_rotation() -> None:
    old = _service(("old", SECRET))
    token = old.issue(**CLAIMS)
    rotated = _service(("new", OTHER), ("old", SECRET))
    assert rotated.verify(token).sub == "user-1"
    new_token = rotated.issue(**CLAIMS)
    assert jwt.get_unverified_header(new_token)["kid"] == "new"
    with pytest.raises(TokenError):
        old.verify(new_token)


def test_algorithm_constant() -> None:
    assert ALGORITHM == "HS256"


def test_constructor_validation() -> None:
    with pytest.raises(ValueError):
        TokenService([])
    with pytest.raises(ValueError):
        TokenService([("k1", b"short")])
    with pytest.raises(ValueError):
        TokenService([("k1", SECRET), ("k1", OTHER)])
