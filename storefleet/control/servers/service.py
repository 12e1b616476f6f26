"""Registered database servers: where ``database`` stores (and the shared tenant database) live."""

from __future__ import annotations

import secrets
import uuid

import psycopg
from sqlalchemy import func, select
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet import blocking
from storefleet.control.placements.models import StoreDatabase
from storefleet.control.secrets.service import EncryptedColumn, register_encrypted_column
from storefleet.control.servers.models import DatabaseServer
from storefleet.db.constraints import flush
from storefleet.db.locks import Key
from storefleet.db.urls import DatabaseURLError, libpq_conninfo, parse_url
from storefleet.errors import Conflict, InvalidInput, NotFound
from storefleet.security.keyring import Keyring
from storefleet.tenancy.source import ServerAccess

DEFAULT_SERVER = "default"

register_encrypted_column(
    EncryptedColumn(
        "database_servers",
        "id",
        "admin_url_ciphertext",
        lambda k: f"database_servers:{k}:admin_url",
    )
)
register_encrypted_column(
    EncryptedColumn(
        "database_servers",
        "id",
        "app_password_ciphertext",
        lambda k: f"database_servers:{k}:app_password",
    )
)


def _aad(server_id: uuid.UUID, what: str) -> str:
    return f"database_servers:{server_id}:{what}"


def access_for(server: DatabaseServer, keyring: Keyring) -> ServerAccess:
    return ServerAccess(
        id=server.id,
        name=server.name,
        admin_url=parse_url(
            keyring.decrypt_text(server.admin_url_ciphertext, _aad(server.id, "admin_url"))
        ),
        app_password=keyring.decrypt_text(
            server.app_password_ciphertext, _aad(server.id, "app_password")
        ),
    )


def server_version(url: URL) -> int:
    with psycopg.connect(libpq_conninfo(url), connect_timeout=10, autocommit=True) as conn:
        return int(conn.info.server_version)


async def add_server(
    session: AsyncSession,
    keyring: Keyring,
    *,
    name: str,
    admin_url: str | URL,
    capacity: int = 1000,
    is_default: bool = False,
    check: bool = True,
) -> DatabaseServer:
    try:
        url = parse_url(admin_url)
    except DatabaseURLError as exc:
        raise InvalidInput(str(exc), field="url") from None
    if capacity <= 0:
        raise InvalidInput("capacity must be positive", field="capacity")
    version = None
    if check:
        try:
            version = await blocking.database_admin(
                server_version, url.set(database=url.database or "postgres")
            )
        except psycopg.Error as exc:
            raise InvalidInput(
                f"cannot connect to the server: {type(exc).__name__}", field="url"
            ) from None
        if version < 150000:
            raise InvalidInput("PostgreSQL 15 or newer is required", field="url")
    server_id = uuid.uuid4()
    server = DatabaseServer(
        id=server_id,
        name=name,
        admin_url_ciphertext=keyring.encrypt_text(
            url.render_as_string(hide_password=False), _aad(server_id, "admin_url")
        ),
        app_password_ciphertext=keyring.encrypt_text(
            secrets.token_urlsafe(24), _aad(server_id, "app_password")
        ),
        capacity=capacity,
        is_default=is_default,
        server_version=version,
    )
    session.add(server)
    await flush(session, Conflict(f"a server named {name!r} already exists", field="name"))
    return server


async def ensure_default_server(
    session: AsyncSession, keyring: Keyring, control_url: URL
) -> DatabaseServer:
    """Register the server holding the control plane as ``default`` on first start."""
    existing = (
        await session.execute(select(DatabaseServer).where(DatabaseServer.is_default))
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    await session.execute(select(func.pg_advisory_xact_lock(int(Key.DEFAULT_SERVER))))
    existing = (
        await session.execute(select(DatabaseServer).where(DatabaseServer.is_default))
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    return await add_server(
        session,
        keyring,
        name=DEFAULT_SERVER,
        admin_url=control_url.set(database="postgres"),
        is_default=True,
        check=False,
    )


async def get_server(session: AsyncSession, name_or_id: str | uuid.UUID) -> DatabaseServer:
    stmt = select(DatabaseServer)
    if isinstance(name_or_id, uuid.UUID):
        stmt = stmt.where(DatabaseServer.id == name_or_id)
    else:
        stmt = stmt.where(DatabaseServer.name == name_or_id)
    server = (await session.execute(stmt)).scalar_one_or_none()
    if server is None:
        raise NotFound(f"no database server {name_or_id!s}", field="server")
    return server


async def default_server(session: AsyncSession) -> DatabaseServer:
    server = (
        await session.execute(select(DatabaseServer).where(DatabaseServer.is_default))
    ).scalar_one_or_none()
    if server is None:
        raise NotFound("no default database server is registered")
    return server


async def servers_with_load(session: AsyncSession) -> list[tuple[DatabaseServer, int]]:
    """Every server with the number of ``database`` stores it holds."""
    load = (
        select(StoreDatabase.server_id, func.count().label("n"))
        .where(StoreDatabase.placement == "database")
        .group_by(StoreDatabase.server_id)
        .subquery()
    )
    rows = await session.execute(
        select(DatabaseServer, func.coalesce(load.c.n, 0))
        .outerjoin(load, load.c.server_id == DatabaseServer.id)
        .order_by(DatabaseServer.name)
    )
    return [(server, int(n)) for server, n in rows.all()]


async def least_loaded_server(session: AsyncSession) -> DatabaseServer:
    """The active server with the most free room for a new ``database`` store."""
    candidates = [
        (server.capacity - n, server)
        for server, n in await servers_with_load(session)
        if server.status == "active" and n < server.capacity
    ]
    if not candidates:
        raise Conflict("no database server has room for another store", field="server")
    candidates.sort(key=lambda pair: (-pair[0], pair[1].name))
    return candidates[0][1]
