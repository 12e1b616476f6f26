"""Proving a customer's email, and what only a proven email unlocks. No HTTP here.

A verification token is 32 random bytes, handed out once (``notices``) and stored only as its
sha256 with an expiry on the ``users`` row; using it clears it. Until an account's email is
verified it is an empty account of its own: guests and staff-entered customers with that email
stay separate rows, so whoever signs up with someone's email sees none of their orders or
addresses. Verification joins them (``join_unlinked_customers``).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.customers.models import Customer, CustomerAddress
from storefleet.commerce.orders.models import Order
from storefleet.commerce.users.models import TenantUser
from storefleet.schemas import apply_changes

TOKEN_BYTES = 32
DEFAULT_FLAGS = ("is_default_shipping", "is_default_billing")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_pending(user: TenantUser) -> bool:
    """An active customer account whose email nobody has proven yet."""
    return (
        user.role == "customer"
        and user.account_type == "customer"
        and user.is_active
        and not user.email_verified
    )


def arm(user: TenantUser, token: str, ttl_seconds: int) -> None:
    """Make ``token`` the one that verifies ``user``'s email (any earlier one stops working)."""
    user.email_verification_token = token_digest(token)
    user.email_verification_expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds)


async def user_for_token(
    session: AsyncSession, token: str, *, for_update: bool = False
) -> TenantUser | None:
    """The pending customer this unexpired, unused token verifies, if any."""
    stmt = select(TenantUser).where(
        TenantUser.email_verification_token == token_digest(token),
        TenantUser.email_verification_expires > datetime.now(UTC),
        TenantUser.email_verified.is_(False),
        TenantUser.is_active.is_(True),
        TenantUser.role == "customer",
    )
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def mark_verified(user: TenantUser, password_hash: str) -> None:
    """Consume the token, take the verifier's password and end every earlier session."""
    user.email_verified = True
    user.email_verification_token = None
    user.email_verification_expires = None
    user.password_hash = password_hash
    user.token_version = user.token_version + 1


async def join_unlinked_customers(session: AsyncSession, account: Customer) -> list[uuid.UUID]:
    """Guests and staff-entered customers with the account's email become part of it.

    Their orders and addresses move to the account (a moved address keeps a default flag only
    where the account has none yet), their profile fills what the account lacks, and the
    emptied rows are soft-deleted. The caller holds ``lock_email``, so no checkout adds a
    guest order meanwhile; staff-entered rows go first, then guests, oldest first.
    """
    others = list(
        (
            await session.execute(
                select(Customer)
                .where(
                    func.lower(Customer.email) == account.email.lower(),
                    Customer.user_id.is_(None),
                    Customer.id != account.id,
                    Customer.live(),
                )
                .order_by(Customer.is_guest, Customer.created_at, Customer.id)
                .with_for_update()
            )
        ).scalars()
    )
    if not others:
        return []
    ids = [c.id for c in others]
    await session.execute(
        update(Order)
        .where(Order.customer_id.in_(ids))
        .values(customer_id=account.id)
        .execution_options(synchronize_session=False)
    )
    await _move_addresses(session, ids, account.id)
    now = datetime.now(UTC)
    for other in others:
        _fill_profile(account, other)
        other.deleted_at = now
    await session.flush()
    return ids


async def _move_addresses(
    session: AsyncSession, from_ids: Sequence[uuid.UUID], to_id: uuid.UUID
) -> None:
    rank = {customer_id: i for i, customer_id in enumerate(from_ids)}
    rows = (
        await session.execute(
            select(
                CustomerAddress.id,
                CustomerAddress.customer_id,
                CustomerAddress.created_at,
                *(getattr(CustomerAddress, flag) for flag in DEFAULT_FLAGS),
            ).where(CustomerAddress.customer_id.in_([*from_ids, to_id]))
        )
    ).all()
    for flag in DEFAULT_FLAGS:
        taken = any(r.customer_id == to_id and getattr(r, flag) for r in rows)
        moving = sorted(
            (r for r in rows if r.customer_id != to_id and getattr(r, flag)),
            key=lambda r: (rank[r.customer_id], r.created_at),
        )
        cleared = moving if taken else moving[1:]
        if cleared:
            await session.execute(
                update(CustomerAddress)
                .where(CustomerAddress.id.in_([r.id for r in cleared]))
                .values({flag: False})
                .execution_options(synchronize_session=False)
            )
    await session.execute(
        update(CustomerAddress)
        .where(CustomerAddress.customer_id.in_(from_ids))
        .values(customer_id=to_id)
        .execution_options(synchronize_session=False)
    )


def _fill_profile(account: Customer, other: Customer) -> None:
    """What staff or a guest checkout knew and the account lacks; consent stays the account's."""
    values: dict[str, Any] = {}
    for name in ("first_name", "last_name", "phone", "customer_group"):
        if not getattr(account, name) and getattr(other, name):
            values[name] = getattr(other, name)
    if other.notes:
        values["notes"] = f"{account.notes}\n{other.notes}" if account.notes else other.notes
    values["tags"] = list(dict.fromkeys([*(account.tags or []), *(other.tags or [])]))
    apply_changes(account, values)
