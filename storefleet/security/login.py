"""The one sign-in routine: throttle, verify, rehash; accounts, staff and customers use it.

Every way of failing (unknown email, no password set, wrong password, an account that may
not sign in) answers the same 401 after the same argon2 work, so neither the message nor
the time tells an attacker which emails exist. The caller looks the user up, then::

    login = await Login.begin(throttle, "staff:<store id>", email, client_ip, BAD_CREDENTIALS)
    new_hash = await login.verify(user.password_hash if user else None, password,
                                  usable=user is not None and user.is_active)

``verify`` returns the password's new hash when the stored one uses old parameters (the
caller writes it), or ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from storefleet.errors import AuthenticationFailed
from storefleet.security import passwords
from storefleet.security.throttle import LoginAttempt, LoginThrottle


@dataclass
class Login:
    attempt: LoginAttempt
    refusal: str

    @classmethod
    async def begin(
        cls, throttle: LoginThrottle, kind: str, email: str, client_ip: str | None, refusal: str
    ) -> Login:
        """Count this attempt (429 when the client is refused for this email)."""
        return cls(await throttle.attempt(kind, email, client_ip), refusal)

    async def verify(self, password_hash: str | None, password: str, *, usable: bool) -> str | None:
        if password_hash is None:
            await passwords.burn_verify(password)
            await self.refuse()
        ok, new_hash = await passwords.verify_password(password_hash, password)
        if not ok or not usable:
            await self.refuse()
        await self.attempt.succeeded()
        return new_hash

    async def refuse(self) -> NoReturn:
        await self.attempt.failed()
        raise AuthenticationFailed(self.refusal)
