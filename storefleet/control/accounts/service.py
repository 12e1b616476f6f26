"""Accounts: sign-up, sign-in, profile, password and token revocation. No HTTP here."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.accounts.models import Account, RevokedToken
from storefleet.control.audit import service as audit
from storefleet.db.constraints import flush
from storefleet.errors import AuthenticationFailed, Conflict, InvalidInput
from storefleet.schemas import apply_changes
from storefleet.security import passwords
from storefleet.security.login import Login
from storefleet.security.throttle import LoginThrottle
from storefleet.security.tokens import TokenClaims, TokenError, TokenService

PROFILE_FIELDS = ("first_name", "last_name", "phone", "avatar_url", "company")
BAD_CREDENTIALS = "Invalid email or password"


def profile_snapshot(account: Account) -> dict[str, Any]:
    return {name: getattr(account, name) for name in ("email", *PROFILE_FIELDS)}


async def find_by_email(session: AsyncSession, email: str) -> Account | None:
    result = await session.execute(
        select(Account).where(func.lower(Account.email) == email.strip().lower())
    )
    return result.scalar_one_or_none()


async def create_account(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    account_type: str = "agency",
    actor_label: str = "self",
    client_ip: str | None = None,
) -> Account:
    """Create an account; 409-style Conflict when the email exists in any letter case."""
    try:
        passwords.check_strength(password, email=email)
    except passwords.WeakPasswordError as exc:
        raise InvalidInput(str(exc), field="password") from None
    email = email.strip()
    if await find_by_email(session, email) is not None:
        raise Conflict("An account with this email already exists", field="email")
    account = Account(
        email=email,
        password_hash=await passwords.hash_password(password),
        first_name=first_name,
        last_name=last_name,
        account_type=account_type,
    )
    session.add(account)
    await flush(session, Conflict("An account with this email already exists", field="email"))
    await audit.record(
        session,
        action="account.created",
        entity_type="account",
        entity_id=account.id,
        actor_id=account.id if actor_label == "self" else None,
        actor_label=actor_label,
        after=profile_snapshot(account),
        client_ip=client_ip,
    )
    return account


async def authenticate(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    throttle: LoginThrottle,
    client_ip: str | None,
) -> Account:
    """Check credentials. Unknown email and wrong password fail alike, in time and message."""
    login = await Login.begin(throttle, "account", email, client_ip, BAD_CREDENTIALS)
    account = await find_by_email(session, email)
    new_hash = await login.verify(
        account.password_hash if account else None,
        password,
        usable=account is not None and account.is_active,
    )
    assert account is not None
    if new_hash:
        account.password_hash = new_hash
    account.last_login_at = datetime.now(UTC)
    await session.flush()
    return account


def issue_token(tokens: TokenService, account: Account) -> str:
    return tokens.issue(
        sub=str(account.id),
        account_type=account.account_type,
        role="owner" if account.account_type == "agency" else "admin",
        ver=account.token_version,
    )


PLATFORM_ACCOUNT_TYPES = ("agency", "platform_admin")


async def verify_token(session: AsyncSession, tokens: TokenService, raw: str) -> TokenClaims:
    """Signature, expiry and revocation; who the subject is gets checked by the caller."""
    try:
        claims = tokens.verify(raw)
    except TokenError as exc:
        raise AuthenticationFailed(str(exc)) from None
    if await session.get(RevokedToken, claims.jti) is not None:
        raise AuthenticationFailed("Token is no longer valid")
    return claims


async def resolve_token(
    session: AsyncSession, tokens: TokenService, raw: str
) -> tuple[Account, TokenClaims]:
    """The account behind a bearer token, refusing expired, revoked or superseded tokens."""
    claims = await verify_token(session, tokens, raw)
    return await account_for_claims(session, claims), claims


async def account_for_claims(session: AsyncSession, claims: TokenClaims) -> Account:
    if claims.account_type not in PLATFORM_ACCOUNT_TYPES:
        raise AuthenticationFailed("Token is not a platform account token")
    try:
        account_id = uuid.UUID(claims.sub)
    except ValueError:
        raise AuthenticationFailed("Invalid token") from None
    account = await session.get(Account, account_id)
    if account is None or not account.is_active or account.token_version != claims.ver:
        raise AuthenticationFailed("Token is no longer valid")
    return account


async def revoke_claims(session: AsyncSession, claims: TokenClaims) -> None:
    """Refuse this token from now on (any kind of token: account, staff, customer)."""
    if await session.get(RevokedToken, claims.jti) is None:
        account_id = None
        if claims.account_type in PLATFORM_ACCOUNT_TYPES:
            account_id = uuid.UUID(claims.sub)
        session.add(
            RevokedToken(
                jti=claims.jti,
                account_id=account_id,
                subject=f"{claims.account_type}:{claims.sub}",
                expires_at=datetime.fromtimestamp(claims.exp, UTC),
            )
        )
        await session.flush()


async def revoke_token(session: AsyncSession, account: Account, claims: TokenClaims) -> None:
    await revoke_claims(session, claims)
    await audit.record(
        session,
        action="account.logout",
        entity_type="account",
        entity_id=account.id,
        actor_id=account.id,
        actor_label="self",
    )
    await session.flush()


async def locked_account(session: AsyncSession, account_id: uuid.UUID) -> Account:
    """The account row in ``session``, locked: the caller's copy came from the short
    authentication transaction and may be stale by now."""
    account = await session.get(Account, account_id, with_for_update=True, populate_existing=True)
    if account is None or not account.is_active:
        raise AuthenticationFailed("Token is no longer valid")
    return account


async def update_profile(
    session: AsyncSession, account: Account, changes: dict[str, Any], *, client_ip: str | None
) -> Account:
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise InvalidInput("Unknown profile field", field=sorted(unknown)[0])
    account = await locked_account(session, account.id)
    before = profile_snapshot(account)
    apply_changes(account, changes)
    await session.flush()
    await audit.record(
        session,
        action="account.profile_updated",
        entity_type="account",
        entity_id=account.id,
        actor_id=account.id,
        actor_label="self",
        before={k: before[k] for k in changes},
        after={k: changes[k] for k in changes},
        client_ip=client_ip,
    )
    return account


async def change_password(
    session: AsyncSession,
    account: Account,
    *,
    current_password: str,
    new_password: str,
    client_ip: str | None,
) -> Account:
    """Set a new password; every token issued before stops working."""
    account = await locked_account(session, account.id)
    ok, _ = await passwords.verify_password(account.password_hash, current_password)
    if not ok:
        raise InvalidInput("Current password is wrong", field="current_password")
    try:
        passwords.check_strength(new_password, email=account.email)
    except passwords.WeakPasswordError as exc:
        raise InvalidInput(str(exc), field="new_password") from None
    account.password_hash = await passwords.hash_password(new_password)
    account.token_version += 1
    await audit.record(
        session,
        action="account.password_changed",
        entity_type="account",
        entity_id=account.id,
        actor_id=account.id,
        actor_label="self",
        client_ip=client_ip,
    )
    await session.flush()
    return account


async def list_accounts(
    session: AsyncSession, *, limit: int = 100, offset: int = 0
) -> list[Account]:
    result = await session.execute(
        select(Account).order_by(Account.created_at, Account.id).limit(limit).offset(offset)
    )
    return list(result.scalars())
