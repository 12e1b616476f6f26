"""Hostnames routed to stores: normalized (lowercase, IDNA, no port), unique platform-wide."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.control.hostnames.models import StoreHostname
from storefleet.errors import Conflict, InvalidInput, NotFound

LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


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


async def list_hostnames(session: AsyncSession, store_id: uuid.UUID) -> list[StoreHostname]:
    rows = await session.execute(
        select(StoreHostname)
        .where(StoreHostname.store_id == store_id)
        .order_by(StoreHostname.is_primary.desc(), StoreHostname.hostname)
    )
    return list(rows.scalars())


async def add_hostname(
    session: AsyncSession, store_id: uuid.UUID, raw: str, *, primary: bool = False
) -> StoreHostname:
    hostname = normalize_hostname(raw)
    if await session.scalar(select(StoreHostname.id).where(StoreHostname.hostname == hostname)):
        raise Conflict("This hostname is already in use", field="hostname")
    existing = await list_hostnames(session, store_id)
    if len(existing) >= 50:
        raise Conflict("A store can have at most 50 hostnames", field="hostname")
    if primary or not existing:
        await session.execute(
            update(StoreHostname)
            .where(StoreHostname.store_id == store_id, StoreHostname.is_primary)
            .values(is_primary=False)
        )
        primary = True
    row = StoreHostname(store_id=store_id, hostname=hostname, is_primary=primary)
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("This hostname is already in use", field="hostname") from None
    return row


async def remove_hostname(
    session: AsyncSession, store_id: uuid.UUID, hostname_id: uuid.UUID
) -> str:
    """Remove one of the store's hostnames (another store's answers 404); returns its name."""
    row = await session.get(StoreHostname, hostname_id)
    if row is None or row.store_id != store_id:
        raise NotFound("Hostname not found")
    removed = row.hostname
    was_primary = row.is_primary
    await session.delete(row)
    await session.flush()
    if was_primary:
        nxt = (
            await session.execute(
                select(StoreHostname)
                .where(StoreHostname.store_id == store_id)
                .order_by(StoreHostname.created_at)
                .limit(1)
            )
        ).scalar_one_or_none()
        if nxt is not None:
            nxt.is_primary = True
            await session.flush()
    return removed


async def store_for_hostname(session: AsyncSession, hostname: str) -> uuid.UUID | None:
    return await session.scalar(
        select(StoreHostname.store_id).where(StoreHostname.hostname == hostname)
    )
