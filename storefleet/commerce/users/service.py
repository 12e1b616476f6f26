"""Store staff: listing, adding, removing, and staff sign-in. No HTTP here.

Staff live in the tenant ``users`` table next to the owner (synced from the control plane)
and customers. Functions that hash or verify passwords do so outside any tenant
transaction, so a slow argon2 call never holds a connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.users import permissions
from storefleet.commerce.users.models import TenantUser
from storefleet.commerce.users.permissions import Permission
from storefleet.control.accounts import service as accounts
from storefleet.control.audit import service as audit
from storefleet.db.constraints import flush
from storefleet.db.queries import Rows, get_or_404, paged
from storefleet.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    Locked,
    NotFound,
    ServiceUnavailable,
)
from storefleet.security import passwords
from storefleet.security.login import Login
from storefleet.security.throttle import LoginThrottle
from storefleet.security.tokens import TokenClaims, TokenService
from storefleet.tenancy.scope import StoreScope

LISTED_ROLES = permissions.STORE_ROLES
ADDABLE_ROLES = ("admin", "staff")
LOGIN_ROLES = ("admin", "staff")
STAFF_NOT_FOUND = "Staff member not found"
EMAIL_TAKEN = "A user with this email already exists in this store"
BAD_CREDENTIALS = "Invalid store, email or password"
NO_LONGER_VALID = "Token is no longer valid"

StoreLookup = Callable[[uuid.UUID], Awaitable[StoreScope | None]]

_ROLE_ORDER = case({"owner": 0, "admin": 1, "staff": 2}, value=TenantUser.role, else_=3)


async def find_by_email(s: AsyncSession, store_id: uuid.UUID, email: str) -> TenantUser | None:
    result = await s.execute(
        select(TenantUser).where(
            TenantUser.store_id == store_id,
            func.lower(TenantUser.email) == email.strip().lower(),
        )
    )
    return result.scalar_one_or_none()


async def list_staff(
    session: AsyncSession,
    store_id: uuid.UUID,
    *,
    role: str | None = None,
    include_inactive: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> Rows[TenantUser]:
    """Owner, admins and staff (never customers); the owner first, then by creation."""
    conditions = [TenantUser.store_id == store_id, TenantUser.role.in_(LISTED_ROLES)]
    if role is not None:
        conditions.append(TenantUser.role == role)
    if not include_inactive:
        conditions.append(TenantUser.is_active.is_(True))
    stmt = (
        select(TenantUser)
        .where(*conditions)
        .order_by(_ROLE_ORDER, TenantUser.created_at, TenantUser.id)
    )
    return await paged(session, stmt, limit=limit, offset=offset)


async def add_staff(
    scope: StoreScope,
    *,
    actor_role: str,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    role: str,
) -> TenantUser:
    """Add an admin or staff member; a removed staff member with that email comes back."""
    permissions.require(actor_role, Permission.STAFF_MANAGE)
    if role not in ADDABLE_ROLES:
        raise InvalidInput("role must be admin or staff", field="role")
    email = email.strip()
    try:
        passwords.check_strength(password, email=email)
    except passwords.WeakPasswordError as exc:
        raise InvalidInput(str(exc), field="password") from None
    password_hash = await passwords.hash_password(password)
    async with scope.write() as s:
        user = await find_by_email(s, scope.store_id, email)
        if user is not None:
            if user.is_active or user.role not in ADDABLE_ROLES:
                raise Conflict(EMAIL_TAKEN, field="email")
            user.is_active = True
            user.token_version += 1
        else:
            user = TenantUser(store_id=scope.store_id, email=email, account_type="staff")
            s.add(user)
        user.password_hash = password_hash
        user.first_name = first_name
        user.last_name = last_name
        user.role = role
        await flush(s, otherwise=Conflict(EMAIL_TAKEN, field="email"))
        await s.refresh(user)
        return user


async def remove_staff(
    session: AsyncSession, store_id: uuid.UUID, *, actor_role: str, user_id: uuid.UUID
) -> TenantUser:
    """Deactivate an admin or staff member and end their tokens; the row stays for history."""
    permissions.require(actor_role, Permission.STAFF_MANAGE)
    user = await get_or_404(
        session,
        TenantUser,
        user_id,
        missing=STAFF_NOT_FOUND,
        lock=True,
        where=[TenantUser.store_id == store_id],
    )
    if not user.is_active or user.role not in LISTED_ROLES:
        raise NotFound(STAFF_NOT_FOUND)
    if user.role == "owner":
        raise Conflict("The store's owner cannot be removed")
    user.is_active = False
    user.token_version += 1
    await session.flush()
    return user


async def staff_for_token(
    session: AsyncSession, user_id: uuid.UUID, token_version: int
) -> TenantUser:
    """The active owner, admin or staff row a staff token names, else 401 (deactivated,
    demoted, or signed out everywhere since the token was issued)."""
    user = (
        await session.execute(select(TenantUser).where(TenantUser.id == user_id))
    ).scalar_one_or_none()
    if (
        user is None
        or not user.is_active
        or user.role not in permissions.STORE_ROLES
        or user.token_version != token_version
    ):
        raise AuthenticationFailed(NO_LONGER_VALID)
    return user


async def authenticate_staff(
    find_store: StoreLookup,
    *,
    store_id: uuid.UUID,
    email: str,
    password: str,
    throttle: LoginThrottle,
    client_ip: str | None,
) -> TenantUser:
    """Check staff credentials. Unknown store, email, owner row or wrong password fail alike.

    ``find_store`` gives the store's scope, or None for a store that does not exist: the
    body names the store, no dependency has authorized it.
    """
    login = await Login.begin(throttle, f"staff:{store_id}", email, client_ip, BAD_CREDENTIALS)
    scope = await find_store(store_id)
    user = None
    if scope is not None and scope.placement.store_status != "deleted":
        async with scope.read() as s:
            user = await find_by_email(s, store_id, email)
    new_hash = await login.verify(
        user.password_hash if user is not None and scope is not None else None,
        password,
        usable=user is not None and user.is_active and user.role in LOGIN_ROLES,
    )
    assert user is not None and scope is not None
    if scope.placement.store_status == "suspended":
        raise Locked("This store is suspended")
    now = datetime.now(UTC)
    values: dict[str, object] = {"last_login_at": now}
    if new_hash:
        values["password_hash"] = new_hash
    try:
        async with scope.write() as s:
            await s.execute(
                update(TenantUser)
                .where(TenantUser.store_id == store_id, TenantUser.id == user.id)
                .values(**values)
            )
    except ServiceUnavailable:
        pass  # a store being moved still lets staff sign in; only the timestamp is skipped
    user.last_login_at = now
    return user


def issue_staff_token(tokens: TokenService, user: TenantUser) -> str:
    return tokens.issue(
        sub=str(user.id),
        account_type="staff",
        role=user.role,
        ver=user.token_version,
        store_id=str(user.store_id),
    )


async def logout_staff(control: AsyncSession, claims: TokenClaims) -> None:
    """Refuse this staff token from now on (the revocation list lives in the control plane)."""
    if claims.account_type != "staff":
        raise AuthenticationFailed("Not a staff token; use /api/auth/logout")
    await accounts.revoke_claims(control, claims)


async def record_change(
    control: AsyncSession,
    *,
    action: str,
    user: TenantUser,
    actor_id: uuid.UUID,
    actor_label: str,
    client_ip: str | None,
) -> None:
    """Staff changes go to the platform audit log: who let whom into which store."""
    await audit.record(
        control,
        action=action,
        entity_type="store_user",
        entity_id=user.id,
        actor_id=actor_id,
        actor_label=actor_label,
        after={
            "store_id": str(user.store_id),
            "email": user.email,
            "role": user.role,
            "is_active": user.is_active,
        },
        client_ip=client_ip,
    )
