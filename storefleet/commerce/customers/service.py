"""Customers and their addresses, and customer sign-in identities. No HTTP here.

A customer is a ``customers`` row; one with an account is linked to a tenant ``users`` row
(role ``customer``) that holds the password. Guests (checkout without an account) are
customers with ``is_guest``; signing up with a guest's email upgrades that row, so the
guest's earlier orders follow the new account. Argon2 work happens outside transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.common import AddressIn, sort_order
from storefleet.commerce.customers.models import Customer, CustomerAddress
from storefleet.commerce.orders.models import Order
from storefleet.commerce.users.models import TenantUser
from storefleet.control.accounts.throttle import LoginThrottle
from storefleet.db.ids import uuid7
from storefleet.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from storefleet.security import passwords
from storefleet.security.tokens import TokenService
from storefleet.tenancy.placement import StorePlacement
from storefleet.tenancy.session import Tenancy

CUSTOMER_NOT_FOUND = "Customer not found"
ADDRESS_NOT_FOUND = "Address not found"
BAD_CREDENTIALS = "Invalid email or password"
ACCOUNT_EXISTS = "An account with this email already exists in this store"
SORTS: dict[str, ColumnElement[Any]] = {
    "name": func.lower(Customer.last_name + " " + Customer.first_name),
    "email": func.lower(Customer.email),
    "created_at": Customer.created_at.expression,
}
ADDRESS_FIELDS = tuple(AddressIn.model_fields)
# Serialises guest creation per store and email, so two checkouts make one guest.
GUEST_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 7302))")


def _email_taken(email: str) -> Conflict:
    return Conflict(f"A customer with email {email} already exists", field="email")


def escape_like(value: str) -> str:
    """User text inside LIKE: its ``%``, ``_`` and ``\\`` match themselves."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _live() -> Any:
    return Customer.deleted_at.is_(None)


# -- published for checkout and orders ---------------------------------------------------


async def get_customer_for_user(session: AsyncSession, user_id: uuid.UUID) -> Customer | None:
    """The live customer behind a tenant user (a signed-in customer), if any."""
    return (
        await session.execute(select(Customer).where(Customer.user_id == user_id, _live()))
    ).scalar_one_or_none()


async def find_or_create_guest(
    session: AsyncSession,
    store_id: uuid.UUID,
    email: str,
    first_name: str = "",
    last_name: str = "",
) -> Customer:
    """The guest customer for an email at checkout, created on first use.

    Accounts are never returned: a guest typing someone's email must not attach an order to
    their account. Concurrent checkouts with one email end up with one guest row.
    """
    email = email.strip()
    if not email or "@" not in email:
        raise InvalidInput("a valid email is required", field="email")
    await session.execute(GUEST_LOCK, {"key": f"{store_id}:{email.lower()}"})
    guest = (
        await session.execute(
            select(Customer)
            .where(
                func.lower(Customer.email) == email.lower(),
                Customer.is_guest.is_(True),
                _live(),
            )
            .order_by(Customer.created_at)
            .limit(1)
        )
    ).scalar_one_or_none()
    if guest is not None:
        if first_name and not guest.first_name:
            guest.first_name = first_name
        if last_name and not guest.last_name:
            guest.last_name = last_name
        await session.flush()
        return guest
    guest = Customer(
        store_id=store_id,
        email=email,
        is_guest=True,
        first_name=first_name,
        last_name=last_name,
        tags=[],
    )
    session.add(guest)
    await session.flush()
    await session.refresh(guest)
    return guest


# -- admin: customers --------------------------------------------------------------------


async def list_customers(
    session: AsyncSession,
    *,
    q: str | None = None,
    group: str | None = None,
    tag: str | None = None,
    accepts_marketing: bool | None = None,
    sort: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Customer], int]:
    order = sort_order(sort, SORTS, "-created_at")
    conditions: list[Any] = [_live()]
    if q:
        pattern = f"%{escape_like(q.strip())}%"
        conditions.append(
            or_(
                Customer.email.ilike(pattern, escape="\\"),
                Customer.first_name.ilike(pattern, escape="\\"),
                Customer.last_name.ilike(pattern, escape="\\"),
                (Customer.first_name + " " + Customer.last_name).ilike(pattern, escape="\\"),
            )
        )
    if group is not None:
        conditions.append(Customer.customer_group == group)
    if tag is not None:
        conditions.append(Customer.tags.any_() == tag)
    if accepts_marketing is not None:
        conditions.append(Customer.accepts_marketing.is_(accepts_marketing))
    total = await session.scalar(select(func.count()).select_from(Customer).where(*conditions))
    rows = await session.execute(
        select(Customer)
        .where(*conditions)
        .order_by(*order, Customer.id)
        .limit(limit)
        .offset(offset)
    )
    return list(rows.scalars()), int(total or 0)


async def get_customer(
    session: AsyncSession, customer_id: uuid.UUID, *, for_update: bool = False
) -> Customer:
    stmt = select(Customer).where(Customer.id == customer_id, _live())
    if for_update:
        stmt = stmt.with_for_update()
    customer = (await session.execute(stmt)).scalar_one_or_none()
    if customer is None:
        raise NotFound(CUSTOMER_NOT_FOUND)
    return customer


async def _account_email_in_use(
    session: AsyncSession, email: str, *, except_id: uuid.UUID | None = None
) -> bool:
    stmt = select(Customer.id).where(
        func.lower(Customer.email) == email.lower(), Customer.is_guest.is_(False), _live()
    )
    if except_id is not None:
        stmt = stmt.where(Customer.id != except_id)
    return (await session.scalar(stmt.limit(1))) is not None


async def create_customer(
    session: AsyncSession, store_id: uuid.UUID, values: dict[str, Any]
) -> Customer:
    """A customer entered by staff (not a guest, no sign-in until they register)."""
    email = str(values["email"]).strip()
    if await _account_email_in_use(session, email):
        raise _email_taken(email)
    customer = Customer(store_id=store_id, is_guest=False, **{**values, "email": email})
    session.add(customer)
    try:
        await session.flush()
    except IntegrityError:
        raise _email_taken(email) from None
    await session.refresh(customer)
    return customer


async def update_customer(
    session: AsyncSession, customer_id: uuid.UUID, changes: dict[str, Any]
) -> Customer:
    customer = await get_customer(session, customer_id, for_update=True)
    for name in ("email", "first_name", "last_name", "accepts_marketing", "notes", "tags"):
        if name in changes and changes[name] is None:
            raise InvalidInput(f"{name} cannot be null", field=name)
    if "email" in changes:
        email = str(changes["email"]).strip()
        changes["email"] = email
        if not customer.is_guest and await _account_email_in_use(
            session, email, except_id=customer.id
        ):
            raise _email_taken(email)
    for name, value in changes.items():
        setattr(customer, name, value)
    if customer.user_id is not None and changes.keys() & {"email", "first_name", "last_name"}:
        await session.execute(
            update(TenantUser)
            .where(TenantUser.id == customer.user_id)
            .values({k: changes[k] for k in ("email", "first_name", "last_name") if k in changes})
        )
    try:
        await session.flush()
    except IntegrityError:
        raise _email_taken(str(changes.get("email", customer.email))) from None
    await session.refresh(customer)
    return customer


async def delete_customer(session: AsyncSession, customer_id: uuid.UUID) -> None:
    """Soft delete; a linked sign-in is switched off and its tokens stop working."""
    customer = await get_customer(session, customer_id, for_update=True)
    customer.deleted_at = datetime.now(UTC)
    if customer.user_id is not None:
        await session.execute(
            update(TenantUser)
            .where(TenantUser.id == customer.user_id)
            .values(is_active=False, token_version=TenantUser.token_version + 1)
        )
    await session.flush()


# -- addresses ---------------------------------------------------------------------------


def validated_address(values: dict[str, Any]) -> dict[str, Any]:
    """Check a whole address (create, or current values merged with a patch): 422 per field."""
    try:
        address = AddressIn.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "address"
        raise InvalidInput(f"{field}: {first.get('msg', 'invalid value')}", field=field) from None
    return address.model_dump()


async def list_addresses(session: AsyncSession, customer_id: uuid.UUID) -> list[CustomerAddress]:
    await get_customer(session, customer_id)
    rows = await session.execute(
        select(CustomerAddress)
        .where(CustomerAddress.customer_id == customer_id)
        .order_by(CustomerAddress.created_at, CustomerAddress.id)
    )
    return list(rows.scalars())


async def _unset_defaults(
    session: AsyncSession, customer_id: uuid.UUID, keep: uuid.UUID, flags: Sequence[str]
) -> None:
    """Clear the other address's default flag before this one takes it (same transaction)."""
    for flag in flags:
        column = getattr(CustomerAddress, flag)
        await session.execute(
            update(CustomerAddress)
            .where(
                CustomerAddress.customer_id == customer_id,
                CustomerAddress.id != keep,
                column.is_(True),
            )
            .values({flag: False})
            .execution_options(synchronize_session=False)
        )


async def add_address(
    session: AsyncSession, store_id: uuid.UUID, customer_id: uuid.UUID, values: dict[str, Any]
) -> CustomerAddress:
    """The first address becomes both defaults; a new default replaces the old one."""
    await get_customer(session, customer_id, for_update=True)
    existing = await session.scalar(
        select(func.count())
        .select_from(CustomerAddress)
        .where(CustomerAddress.customer_id == customer_id)
    )
    data = validated_address({k: values.get(k) for k in ADDRESS_FIELDS})
    shipping = bool(values.get("is_default_shipping")) or not existing
    billing = bool(values.get("is_default_billing")) or not existing
    address_id = uuid7()
    await _unset_defaults(
        session,
        customer_id,
        address_id,
        [f for f, on in (("is_default_shipping", shipping), ("is_default_billing", billing)) if on],
    )
    address = CustomerAddress(
        store_id=store_id,
        id=address_id,
        customer_id=customer_id,
        is_default_shipping=shipping,
        is_default_billing=billing,
        **data,
    )
    session.add(address)
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("Another request changed this customer's default address") from None
    await session.refresh(address)
    return address


async def _address(
    session: AsyncSession, customer_id: uuid.UUID, address_id: uuid.UUID
) -> CustomerAddress:
    address = (
        await session.execute(
            select(CustomerAddress).where(
                CustomerAddress.id == address_id, CustomerAddress.customer_id == customer_id
            )
        )
    ).scalar_one_or_none()
    if address is None:
        raise NotFound(ADDRESS_NOT_FOUND)
    return address


async def update_address(
    session: AsyncSession,
    customer_id: uuid.UUID,
    address_id: uuid.UUID,
    changes: dict[str, Any],
) -> CustomerAddress:
    await get_customer(session, customer_id, for_update=True)
    address = await _address(session, customer_id, address_id)
    merged = {name: getattr(address, name) for name in ADDRESS_FIELDS}
    for name in ADDRESS_FIELDS:
        if name in changes:
            merged[name] = changes[name]
    data = validated_address(merged)
    flags = [f for f in ("is_default_shipping", "is_default_billing") if changes.get(f) is True]
    await _unset_defaults(session, customer_id, address.id, flags)
    for name, value in data.items():
        setattr(address, name, value)
    for flag in ("is_default_shipping", "is_default_billing"):
        if changes.get(flag) is not None:
            setattr(address, flag, bool(changes[flag]))
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("Another request changed this customer's default address") from None
    await session.refresh(address)
    return address


async def delete_address(
    session: AsyncSession, customer_id: uuid.UUID, address_id: uuid.UUID
) -> None:
    await get_customer(session, customer_id, for_update=True)
    address = await _address(session, customer_id, address_id)
    await session.delete(address)
    await session.flush()


# -- customer accounts (storefront) ------------------------------------------------------


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


async def register(
    tenancy: Tenancy,
    placement: StorePlacement,
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    accepts_marketing: bool = False,
) -> SignedIn:
    """A customer account: a ``users`` row (role customer) and its ``customers`` row."""
    email = email.strip()
    try:
        passwords.check_strength(password, email=email)
    except passwords.WeakPasswordError as exc:
        raise InvalidInput(str(exc), field="password") from None
    password_hash = await passwords.hash_password(password)
    store_id = placement.store_id
    async with tenancy.session(placement) as s:
        if await find_user_by_email(s, email) is not None:
            raise Conflict(ACCOUNT_EXISTS, field="email")
        user = TenantUser(
            store_id=store_id,
            email=email,
            password_hash=password_hash,
            first_name=first_name,
            last_name=last_name,
            role="customer",
            account_type="customer",
        )
        s.add(user)
        try:
            await s.flush()
        except IntegrityError:
            raise Conflict(ACCOUNT_EXISTS, field="email") from None
        # An account-less customer with this email (entered by staff, or a guest) is adopted.
        customer = (
            await s.execute(
                select(Customer)
                .where(
                    func.lower(Customer.email) == email.lower(),
                    Customer.user_id.is_(None),
                    _live(),
                )
                .order_by(Customer.is_guest, Customer.created_at)
                .limit(1)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if customer is None:
            customer = Customer(store_id=store_id, email=email, tags=[])
            s.add(customer)
        customer.is_guest = False
        customer.user_id = user.id
        customer.accepts_marketing = accepts_marketing or bool(customer.accepts_marketing)
        if first_name:
            customer.first_name = first_name
        if last_name:
            customer.last_name = last_name
        try:
            await s.flush()
        except IntegrityError:
            raise Conflict(ACCOUNT_EXISTS, field="email") from None
        await s.refresh(customer)
        await s.refresh(user)
        return SignedIn(user, customer)


async def authenticate(
    tenancy: Tenancy,
    placement: StorePlacement,
    *,
    email: str,
    password: str,
    throttle: LoginThrottle,
    client_ip: str | None,
) -> SignedIn:
    """Unknown email, wrong password, staff email or closed account: the same 401."""
    attempt = throttle.attempt(f"customer:{placement.store_id}", email, client_ip)
    async with tenancy.session(placement, write=False) as s:
        user = await find_user_by_email(s, email)
        customer = None
        if user is not None and user.role == "customer":
            customer = await get_customer_for_user(s, user.id)
    if user is None or user.password_hash is None or user.role != "customer":
        await passwords.burn_verify(password)
        attempt.failed()
        raise AuthenticationFailed(BAD_CREDENTIALS)
    ok, new_hash = await passwords.verify_password(user.password_hash, password)
    if not ok or not user.is_active or customer is None:
        attempt.failed()
        raise AuthenticationFailed(BAD_CREDENTIALS)
    attempt.succeeded()
    now = datetime.now(UTC)
    values: dict[str, Any] = {"last_login_at": now}
    if new_hash:
        values["password_hash"] = new_hash
    try:
        async with tenancy.session(placement) as s:
            await s.execute(update(TenantUser).where(TenantUser.id == user.id).values(**values))
    except ServiceUnavailable:
        pass  # a store being moved still lets customers sign in; only the timestamp waits
    return SignedIn(user, customer)


def issue_customer_token(tokens: TokenService, user: TenantUser) -> str:
    return tokens.issue(
        sub=str(user.id),
        account_type="customer",
        role="customer",
        ver=user.token_version,
        store_id=str(user.store_id),
    )


async def update_self(
    session: AsyncSession, customer_id: uuid.UUID, changes: dict[str, Any]
) -> Customer:
    for name in ("first_name", "last_name", "accepts_marketing"):
        if name in changes and changes[name] is None:
            raise InvalidInput(f"{name} cannot be null", field=name)
    return await update_customer(session, customer_id, changes)


async def own_orders(
    session: AsyncSession, customer_id: uuid.UUID, *, limit: int, offset: int
) -> tuple[list[Any], int]:
    """The customer's orders, newest first (only columns the customer may see)."""
    condition = Order.customer_id == customer_id
    total = await session.scalar(select(func.count()).select_from(Order).where(condition))
    rows = await session.execute(
        select(
            Order.id,
            Order.number,
            Order.status,
            Order.payment_status,
            Order.fulfillment_status,
            Order.currency,
            Order.total,
            Order.placed_at,
        )
        .where(condition)
        .order_by(Order.placed_at.desc().nulls_last(), Order.number.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(rows.mappings()), int(total or 0)
