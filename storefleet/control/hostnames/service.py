"""Hostnames claimed by stores: normalized (lowercase, IDNA, no port), proven by DNS.

A claim starts ``pending`` with a random token; it routes only once ``record_proof`` has
seen the token in DNS. Pending claims reserve nothing: the first store to prove control of a
name holds it, and every other claim of that name is refused at claim or verify time until
the holder removes it. The platform's own hosts and every name under them are never claimable.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.config import Settings
from storefleet.control.hostnames.models import PENDING, VERIFIED, StoreHostname
from storefleet.control.hostnames.verification import (
    Proof,
    is_test_domain,
    is_under,
    new_token,
)
from storefleet.db.constraints import flush
from storefleet.db.locks import Seed
from storefleet.errors import Conflict, DomainError, InvalidInput, NotFound

LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
MAX_HOSTNAMES_PER_STORE = 50
IN_USE = "This hostname is already in use"
NOT_FOUND = "Hostname not found"


def normalize_hostname(raw: str) -> str:
    """``Shop.Example.COM:8443`` → ``shop.example.com``; IDNA for non-ASCII names."""
    host = raw.strip().rstrip(".")
    if host.startswith("["):
        raise InvalidInput("IP addresses cannot be store hostnames", field="hostname")
    if host.count(":") == 1:
        host, _, port = host.partition(":")
        if not port.isdigit():
            raise InvalidInput("invalid port in hostname", field="hostname")
    host = host.lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidInput(
            "hostname is not a valid internationalized name", field="hostname"
        ) from None
    labels = host.split(".")
    if len(host) > 253 or len(labels) < 2 or not all(LABEL.match(lbl) for lbl in labels):
        raise InvalidInput("not a valid hostname", field="hostname")
    if all(lbl.isdigit() for lbl in labels):
        raise InvalidInput("IP addresses cannot be store hostnames", field="hostname")
    return host


def claimable_hostname(raw: str, settings: Settings) -> str:
    """The normalized name, refused when it is one of the platform's hosts or under one."""
    hostname = normalize_hostname(raw)
    if is_under(hostname, settings.reserved_hostnames):
        raise InvalidInput(
            "This hostname belongs to the platform and cannot be claimed", field="hostname"
        )
    return hostname


async def lock_name(session: AsyncSession, hostname: str) -> None:
    """Serialize everything that may verify ``hostname`` until the transaction ends."""
    await session.execute(
        select(
            func.pg_advisory_xact_lock(
                func.hashtextextended("hostname:" + hostname, int(Seed.HOSTNAME))
            )
        )
    )


async def verified_holder(session: AsyncSession, hostname: str) -> uuid.UUID | None:
    """The store that holds ``hostname`` (has it verified), if any."""
    return await session.scalar(
        select(StoreHostname.store_id).where(
            StoreHostname.hostname == hostname, StoreHostname.status == VERIFIED
        )
    )


async def list_hostnames(session: AsyncSession, store_id: uuid.UUID) -> list[StoreHostname]:
    rows = await session.execute(
        select(StoreHostname)
        .where(StoreHostname.store_id == store_id)
        .order_by(StoreHostname.is_primary.desc(), StoreHostname.hostname)
    )
    return list(rows.scalars())


async def store_hostname(
    session: AsyncSession, store_id: uuid.UUID, hostname_id: uuid.UUID, *, for_update: bool = False
) -> StoreHostname:
    """One of the store's hostnames; another store's answers 404 like a missing one."""
    row = await session.get(StoreHostname, hostname_id, with_for_update=for_update)
    if row is None or row.store_id != store_id:
        raise NotFound(NOT_FOUND)
    return row


async def make_primary(session: AsyncSession, row: StoreHostname) -> None:
    if row.status != VERIFIED:
        raise Conflict("Only a verified hostname can be primary: verify it first", field="primary")
    if row.is_primary:
        return
    await session.execute(
        update(StoreHostname)
        .where(StoreHostname.store_id == row.store_id, StoreHostname.is_primary)
        .values(is_primary=False)
    )
    row.is_primary = True
    await session.flush()


async def has_primary(session: AsyncSession, store_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(StoreHostname.id).where(StoreHostname.store_id == store_id, StoreHostname.is_primary)
    )
    return found is not None


def mark_verified(row: StoreHostname, now: datetime) -> None:
    row.status = VERIFIED
    row.verified_at = now
    row.last_checked_at = now
    row.last_error = None


async def add_hostname(
    session: AsyncSession,
    store_id: uuid.UUID,
    raw: str,
    *,
    settings: Settings,
    primary: bool = False,
) -> StoreHostname:
    """Claim a hostname: pending, or verified at once for a test domain where that is on.

    ``primary`` needs a verified hostname; the store's first verified hostname becomes
    primary by itself.
    """
    hostname = claimable_hostname(raw, settings)
    verify_now = settings.test_domains_verified and is_test_domain(hostname)
    if primary and not verify_now:
        raise Conflict(
            "Only a verified hostname can be primary: claim it, verify it, then make it primary",
            field="primary",
        )
    await lock_name(session, hostname)
    existing = await list_hostnames(session, store_id)
    if any(h.hostname == hostname for h in existing):
        raise Conflict("This store has already claimed this hostname", field="hostname")
    if await verified_holder(session, hostname) is not None:
        raise Conflict(IN_USE, field="hostname")
    if len(existing) >= MAX_HOSTNAMES_PER_STORE:
        raise Conflict(
            f"A store can have at most {MAX_HOSTNAMES_PER_STORE} hostnames", field="hostname"
        )
    row = StoreHostname(
        store_id=store_id,
        hostname=hostname,
        is_primary=False,
        status=PENDING,
        verification_token=new_token(),
    )
    if verify_now:
        mark_verified(row, datetime.now(UTC))
    session.add(row)
    await flush(session, Conflict(IN_USE, field="hostname"), savepoint=True)
    if verify_now and (primary or not await has_primary(session, store_id)):
        await make_primary(session, row)
    return row


async def record_proof(
    session: AsyncSession, store_id: uuid.UUID, hostname_id: uuid.UUID, proof: Proof
) -> tuple[StoreHostname, DomainError | None]:
    """Apply a DNS check to a pending claim; the error to answer with when it failed.

    The check's time and problem are written either way, so the caller commits and then
    raises the error. A name another store has verified meanwhile stays with that store.
    """
    row = await store_hostname(session, store_id, hostname_id)
    await lock_name(session, row.hostname)
    await session.refresh(row, with_for_update=True)
    if row.status == VERIFIED:
        return row, None
    now = datetime.now(UTC)
    error: Conflict | None = None
    if not proof.ok:
        error = Conflict(
            proof.detail,
            reason=proof.outcome,
            record_name=proof.record_name,
            expected=proof.expected,
            found=list(proof.found),
        )
    elif await verified_holder(session, row.hostname) is not None:
        error = Conflict(
            "The record is in place, but another store has already verified this hostname; "
            "it must remove the hostname before this claim can be verified",
            reason="taken",
            record_name=proof.record_name,
            expected=proof.expected,
            found=list(proof.found),
        )
    if error is not None:
        row.last_checked_at = now
        row.last_error = error.detail
        await session.flush()
        return row, error
    mark_verified(row, now)
    await session.flush()
    if not await has_primary(session, store_id):
        await make_primary(session, row)
    return row, None


async def set_primary(
    session: AsyncSession, store_id: uuid.UUID, hostname_id: uuid.UUID
) -> StoreHostname:
    row = await store_hostname(session, store_id, hostname_id, for_update=True)
    await make_primary(session, row)
    return row


async def remove_hostname(
    session: AsyncSession, store_id: uuid.UUID, hostname_id: uuid.UUID
) -> str:
    """Remove one of the store's hostnames (its name is returned); the oldest verified one
    left becomes primary."""
    row = await store_hostname(session, store_id, hostname_id, for_update=True)
    removed, was_primary = row.hostname, row.is_primary
    await session.delete(row)
    await session.flush()
    if was_primary:
        nxt = (
            await session.execute(
                select(StoreHostname)
                .where(StoreHostname.store_id == store_id, StoreHostname.status == VERIFIED)
                .order_by(StoreHostname.created_at)
                .limit(1)
            )
        ).scalar_one_or_none()
        if nxt is not None:
            nxt.is_primary = True
            await session.flush()
    return removed


async def store_for_hostname(session: AsyncSession, hostname: str) -> uuid.UUID | None:
    """The store a hostname routes to: only a verified one does."""
    return await verified_holder(session, hostname)
