"""Customers, guests and their addresses. No HTTP here.

A customer is a ``customers`` row; one with an account is linked to a tenant ``users`` row
(role ``customer``, see ``accounts``). Guests (checkout without an account) are customers
with ``is_guest``; they join an account with their email only once that email is verified
(``verification``), never at sign-up.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.common import AddressIn, sort_order
from storefleet.commerce.customers.models import Customer, CustomerAddress
from storefleet.commerce.users.models import TenantUser
from storefleet.db.constraints import flush
from storefleet.db.ids import uuid7
from storefleet.db.locks import Seed
from storefleet.db.queries import Rows, get_or_404, paged
from storefleet.errors import Conflict, InvalidInput
from storefleet.schemas import apply_changes

CUSTOMER_NOT_FOUND = "Customer not found"
ADDRESS_NOT_FOUND = "Address not found"
SORTS: dict[str, ColumnElement[Any]] = {
    "name": func.lower(Customer.last_name + " " + Customer.first_name),
    "email": func.lower(Customer.email),
    "created_at": Customer.created_at.expression,
}
ADDRESS_FIELDS = tuple(AddressIn.model_fields)
# Serialises guest creation, sign-up and verification per store and email, so two checkouts
# make one guest and a verification sees every guest order of its email.
GUEST_LOCK = text(f"SELECT pg_advisory_xact_lock({Seed.CUSTOMER_EMAIL.sql(':key')})")


def _email_taken(email: str) -> Conflict:
    return Conflict(f"A customer with email {email} already exists", field="email")


def _defaults_raced() -> Conflict:
    return Conflict("Another request changed this customer's default address")


def escape_like(value: str) -> str:
    """User text inside LIKE: its ``%``, ``_`` and ``\\`` match themselves."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def lock_email(session: AsyncSession, store_id: uuid.UUID, email: str) -> None:
    """Hold ``GUEST_LOCK`` for this store and email until the transaction ends."""
    await session.execute(GUEST_LOCK, {"key": f"{store_id}:{email.strip().lower()}"})


# -- published for checkout and orders ---------------------------------------------------


async def get_customer_for_user(session: AsyncSession, user_id: uuid.UUID) -> Customer | None:
    """The live customer behind a tenant user (a signed-in customer), if any."""
    return (
        await session.execute(select(Customer).where(Customer.user_id == user_id, Customer.live()))
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
    await lock_email(session, store_id, email)
    guest = (
        await session.execute(
            select(Customer)
            .where(
                func.lower(Customer.email) == email.lower(),
                Customer.is_guest.is_(True),
                Customer.live(),
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
) -> Rows[Customer]:
    order = sort_order(sort, SORTS, "-created_at")
    conditions: list[Any] = [Customer.live()]
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
    stmt = select(Customer).where(*conditions).order_by(*order, Customer.id)
    return await paged(session, stmt, limit=limit, offset=offset)


async def get_customer(
    session: AsyncSession, customer_id: uuid.UUID, *, for_update: bool = False
) -> Customer:
    return await get_or_404(
        session,
        Customer,
        customer_id,
        missing=CUSTOMER_NOT_FOUND,
        lock=for_update,
        where=[Customer.live()],
    )


async def _account_email_in_use(
    session: AsyncSession, email: str, *, except_id: uuid.UUID | None = None
) -> bool:
    stmt = select(Customer.id).where(
        func.lower(Customer.email) == email.lower(), Customer.is_guest.is_(False), Customer.live()
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
    await flush(session, otherwise=_email_taken(email))
    await session.refresh(customer)
    return customer


async def update_customer(
    session: AsyncSession, customer_id: uuid.UUID, changes: dict[str, Any]
) -> Customer:
    """Apply ``changes`` (nulls already refused by the patch); an account follows its
    customer's email and name."""
    customer = await get_customer(session, customer_id, for_update=True)
    old_email = customer.email
    if "email" in changes:
        email = str(changes["email"]).strip()
        changes["email"] = email
        if not customer.is_guest and await _account_email_in_use(
            session, email, except_id=customer.id
        ):
            raise _email_taken(email)
    apply_changes(customer, changes)
    if customer.user_id is not None and changes.keys() & {"email", "first_name", "last_name"}:
        synced: dict[str, Any] = {
            k: changes[k] for k in ("email", "first_name", "last_name") if k in changes
        }
        if "email" in changes and changes["email"].lower() != old_email.lower():
            # A new address is unproven: the pending link was sent to the old one.
            synced |= {
                "email_verified": False,
                "email_verification_token": None,
                "email_verification_expires": None,
            }
        await session.execute(
            update(TenantUser).where(TenantUser.id == customer.user_id).values(synced)
        )
    await flush(session, otherwise=_email_taken(str(changes.get("email", customer.email))))
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
    await flush(session, otherwise=_defaults_raced())
    await session.refresh(address)
    return address


async def _address(
    session: AsyncSession, customer_id: uuid.UUID, address_id: uuid.UUID
) -> CustomerAddress:
    return await get_or_404(
        session,
        CustomerAddress,
        address_id,
        missing=ADDRESS_NOT_FOUND,
        where=[CustomerAddress.customer_id == customer_id],
    )


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
    await flush(session, otherwise=_defaults_raced())
    await session.refresh(address)
    return address


async def delete_address(
    session: AsyncSession, customer_id: uuid.UUID, address_id: uuid.UUID
) -> None:
    await get_customer(session, customer_id, for_update=True)
    address = await _address(session, customer_id, address_id)
    await session.delete(address)
    await session.flush()
