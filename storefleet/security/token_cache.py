"""Bearer tokens whose signature already checked out, so a middleware need not check again."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

from storefleet.security.tokens import TokenClaims, TokenError, TokenService

MAX_CACHED_TOKENS = 4096


class VerifiedTokens:
    """Digest of a token → its claims, once its signature checked out, until it expires.

    Verifying an HS256 token costs some 70 µs; a digest lookup about 1. The digest, never
    the token, is kept. Revocation stays the routes' business.
    """

    def __init__(self, max_entries: int = MAX_CACHED_TOKENS) -> None:
        self.max_entries = max_entries
        self._claims: OrderedDict[bytes, TokenClaims | None] = OrderedDict()

    def verify(self, service: TokenService, token: str) -> TokenClaims | None:
        digest = hashlib.blake2b(token.encode(), digest_size=16).digest()
        if digest in self._claims:
            claims = self._claims[digest]
            if claims is None or claims.exp > time.time():
                return claims
        try:
            claims = service.verify(token)
        except TokenError:
            claims = None
        self._claims[digest] = claims
        self._claims.move_to_end(digest)
        if len(self._claims) > self.max_entries:
            self._claims.popitem(last=False)
        return claims
