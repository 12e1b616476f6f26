"""Customer accounts on the storefront: sign-up, email verification, sign-in. No HTTP here.

An account is a tenant ``users`` row (role ``customer``) holding the password, linked to its
own ``customers`` row. Sign-up answers the same whether or not the email is known, so it
cannot tell anyone which emails shop here: a new email gets an unverified account, an email
whose account is still unverified gets a fresh verification link (sent to the address, never
to the caller), any other existing user is left as it was. An unverified account can sign in
and shop, and sees only what it did itself; verifying the email joins the guest history.
Argon2 work happens outside transactions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storefleet.commerce.customers import notices, service, verification
from storefleet.commerce.customers.models import Customer
from storefleet.commerce.orders.models import Order
from storefleet.commerce.users.models import TenantUser
from storefleet.config import Settings
from storefleet.db.constraints import flush
from storefleet.db.queries import Rows, paged
from storefleet.errors import (
    AuthenticationFailed,
    BadRequest,
    Conflict,
    InvalidInput,
    ServiceUnavailable,
)
from storefleet.security import passwords
from storefleet.security.login import Login
from storefleet.security.throttle import LoginThrottle
from storefleet.security.tokens import TokenService
from storefleet.tenancy.scope import StoreScope

BAD_CREDENTIALS = "Invalid email or password"
UNUSABLE_LINK = "This verification link is invalid, already used or expired"
NO_LONGER_VALID = "Token is no longer valid"
OWN_ORDER_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = (
    Order.id,
    Order.number,
    Order.status,
    Order.payment_status,
    Order.fulfillment_status,
    Order.currency,
    Order.total,
    Order.placed_at,
)


@dataclass(frozen=True)
class SignedIn:
    user: TenantUser
    customer: Customer


async def find_user_by_email(session: AsyncSession, email: str) -> TenantUser | None:
    return (
        await session.execute(
            select(TenantUser).where(func.lower(TenantUser.email) == email.strip().lower())
        )
    ).scalar_one_or_none()


async def _strong_password_hash(password: str, email: str) -> str:
    try:
        passwords.check_strength(password, email=email)
    except passwords.WeakPasswordError as exc:
        raise InvalidInput(str(exc), field="password") from None
    return await passwords.hash_password(password)


async def register(
    scope: StoreScope,
    settings: Settings,
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    accepts_marketing: bool = False,
) -> None:
    """Sign up; nothing in the outcome (or its cost: the hash is always made) shows which case.

    Guests and staff-entered customers with this email are not touched: the new account gets
    its own empty ``customers`` row until the email is verified.
    """
    email = email.strip()
    password_hash = await _strong_password_hash(password, email)
    token = verification.new_token()
    store_id = scope.store_id
    armed: TenantUser | None = None
    armed_id: uuid.UUID | None = None
    async with scope.write() as s:
        await service.lock_email(s, store_id, email)
        user = await find_user_by_email(s, email)
        if user is None:
            armed = await _new_account(
                s, store_id, email, password_hash, first_name, last_name, accepts_marketing
            )
        elif (
            verification.is_pending(user)
            and await service.get_customer_for_user(s, user.id) is not None
        ):
            armed = user  # the password stays; the email's owner sets theirs on verifying
        if armed is not None:
            verification.arm(armed, token, settings.customer_verification_ttl_seconds)
            await s.flush()
            armed_id = armed.id
    if armed_id is None:
        notices.registration_attempted(settings, store_id=store_id, email=email)
    else:
        notices.verification_issued(
            settings, store_id=store_id, user_id=armed_id, email=email, token=token
        )


async def _new_account(
    session: AsyncSession,
    store_id: uuid.UUID,
    email: str,
    password_hash: str,
    first_name: str,
    last_name: str,
    accepts_marketing: bool,
) -> TenantUser | None:
    """An unverified account and its own ``customers`` row; None if the email was just taken."""
    user = TenantUser(
        store_id=store_id,
        email=email,
        password_hash=password_hash,
        first_name=first_name,
        last_name=last_name,
        role="customer",
        account_type="customer",
        email_verified=False,
    )
    session.add(user)
    try:
        await flush(
            session, otherwise=Conflict("email already taken", field="email"), savepoint=True
        )
    except Conflict:
        return None  # staff were added with this email a moment ago (not under the lock)
    session.add(
        Customer(
            store_id=store_id,
            email=email,
            is_guest=False,
            user_id=user.id,
            first_name=first_name,
            last_name=last_name,
            accepts_marketing=accepts_marketing,
            tags=[],
        )
    )
    return user


async def verify_email(scope: StoreScope, *, token: str, password: str) -> SignedIn:
    """Prove the email with its token, choose the password, then join the guest history.

    The verifier always sets the password and every earlier session ends: whoever signed up
    first with this email (perhaps not its owner) knows the old password, not this one. Wrong,
    expired and used tokens change nothing (400 naming ``token``).
    """
    async with scope.read() as s:
        pending = await verification.user_for_token(s, token)
        email = pending.email if pending is not None else None
    if email is None:
        raise BadRequest(UNUSABLE_LINK, field="token")
    password_hash = await _strong_password_hash(password, email)
    async with scope.write() as s:
        await service.lock_email(s, scope.store_id, email)
        user = await verification.user_for_token(s, token, for_update=True)
        customer = None
        if user is not None and user.email.lower() == email.lower():
            customer = await service.get_customer_for_user(s, user.id)
        if user is None or customer is None:
            raise BadRequest(UNUSABLE_LINK, field="token")
        customer = await service.get_customer(s, customer.id, for_update=True)
        verification.mark_verified(user, password_hash)
        await verification.join_unlinked_customers(s, customer)
        user.first_name = user.first_name or customer.first_name
        user.last_name = user.last_name or customer.last_name
        await s.flush()
        await s.refresh(user)
        await s.refresh(customer)
        return SignedIn(user, customer)


async def authenticate(
    scope: StoreScope,
    *,
    email: str,
    password: str,
    throttle: LoginThrottle,
    client_ip: str | None,
) -> SignedIn:
    """Unknown email, wrong password, staff email or closed account: the same 401."""
    login = await Login.begin(
        throttle, f"customer:{scope.store_id}", email, client_ip, BAD_CREDENTIALS
    )
    async with scope.read() as s:
        user = await find_user_by_email(s, email)
        customer = None
        if user is not None and user.role == "customer":
            customer = await service.get_customer_for_user(s, user.id)
    new_hash = await login.verify(
        user.password_hash if user is not None and user.role == "customer" else None,
        password,
        usable=user is not None and user.is_active and customer is not None,
    )
    assert user is not None and customer is not None
    now = datetime.now(UTC)
    values: dict[str, Any] = {"last_login_at": now}
    if new_hash:
        values["password_hash"] = new_hash
    try:
        async with scope.write() as s:
            await s.execute(update(TenantUser).where(TenantUser.id == user.id).values(**values))
    except ServiceUnavailable:
        pass  # a store being moved still lets customers sign in; only the timestamp waits
    return SignedIn(user, customer)


async def token_holder(session: AsyncSession, user_id: uuid.UUID, token_version: int) -> SignedIn:
    """The active customer account a customer token names, with its live customer row.

    A user deactivated, turned staff, signed out everywhere (``token_version``) or whose
    customer was deleted: 401, as for a token that never was.
    """
    row = (
        await session.execute(
            select(TenantUser, Customer)
            .join(
                Customer,
                (Customer.store_id == TenantUser.store_id)
                & (Customer.user_id == TenantUser.id)
                & Customer.live(),
            )
            .where(TenantUser.id == user_id)
        )
    ).first()
    if row is None:
        raise AuthenticationFailed(NO_LONGER_VALID)
    user, customer = row
    if (
        not user.is_active
        or user.role != "customer"
        or user.account_type != "customer"
        or user.token_version != token_version
    ):
        raise AuthenticationFailed(NO_LONGER_VALID)
    return SignedIn(user, customer)


def issue_customer_token(tokens: TokenService, user: TenantUser) -> str:
    return tokens.issue(
        sub=str(user.id),
        account_type="customer",
        role="customer",
        ver=user.token_version,
        store_id=str(user.store_id),
    )


async def own_orders(
    session: AsyncSession, customer_id: uuid.UUID, *, limit: int, offset: int
) -> Rows[dict[str, Any]]:
    """The customer's orders, newest first (only columns the customer may see)."""
    stmt = (
        select(*OWN_ORDER_COLUMNS)
        .where(Order.customer_id == customer_id)
        .order_by(Order.placed_at.desc().nulls_last(), Order.number.desc())
    )
    names = [column.key for column in OWN_ORDER_COLUMNS]
    rows = await paged(session, stmt, limit=limit, offset=offset)
    return rows.map(lambda row: dict(zip(names, row, strict=True)))
