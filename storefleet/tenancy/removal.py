"""Removing a store's data from one location: the old copy after a move, or a purge.

Each placement is removed the way it was made: a pool store's rows are deleted (other
stores share the tables), a schema or a managed database is dropped whole, and in an
owner's database the rows go and the store's own request role loses what it was granted
there (the owner's database and its ``tenant`` schema stay: they are the owner's).
Every step is idempotent, so a failed removal is finished by running it again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from storefleet import blocking
from storefleet.tenancy import ddl
from storefleet.tenancy.databases import drop_database
from storefleet.tenancy.datacopy import Location, clear_store, connect
from storefleet.tenancy.placement import StorePlacement

if TYPE_CHECKING:
    from storefleet.tenancy.preparation import ServerPreparation
    from storefleet.tenancy.session import Tenancy


async def drop_schema(location: Location) -> None:
    async with await connect(location.admin_url) as conn:
        await conn.execute(
            f"DROP SCHEMA IF EXISTS {ddl.ident(ddl.checked_schema(location.schema))} CASCADE"
        )


async def retire_store_role(location: Location, where: StorePlacement, *, drop_role: bool) -> None:
    """The store's own request role loses what it had in the owner's database it left.

    With ``drop_role`` the role itself goes too; a store that moved to another database of
    the same owner server may still use it there (one role per server), so then it stays.
    """
    role = ddl.external_app_role(where.store_id)
    schema = psycopg.sql.Identifier(ddl.checked_schema(where.schema))
    ident = psycopg.sql.Identifier(role)
    database = psycopg.sql.Identifier(ddl.checked_database(where.database))
    async with await connect(location.admin_url) as conn:
        found = await (
            await conn.execute(
                "SELECT 1 FROM pg_catalog.pg_roles "
                "WHERE rolname OPERATOR(pg_catalog.=) %s::pg_catalog.name",
                (role,),
            )
        ).fetchone()
        if found is None:
            return  # an owner-role database, or a store from before per-store roles
        await conn.execute(
            psycopg.sql.SQL(
                "REVOKE ALL ON ALL TABLES IN SCHEMA {schema} FROM {role}; "
                "REVOKE ALL ON SCHEMA {schema} FROM {role}; "
                "REVOKE ALL ON DATABASE {database} FROM {role}"
            ).format(schema=schema, role=ident, database=database)
        )
        if drop_role:
            await conn.execute(psycopg.sql.SQL("DROP ROLE IF EXISTS {}").format(ident))


async def remove_store_data(
    tenancy: Tenancy, provisioner: ServerPreparation, where: StorePlacement
) -> None:
    """Remove everything the store has at ``where`` (a purge; the store is deleted)."""
    location = Location(
        await tenancy.admin_url(where, long_statements=True),
        where.schema,
        tuple(provisioner.migrator.tables),
    )
    if where.external:
        try:
            await clear_store(location, where.store_id)
        except (psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedTable):
            pass  # never provisioned there
        await retire_store_role(location, where, drop_role=True)
    elif where.placement == "pool":
        try:
            await clear_store(location, where.store_id)
        except (psycopg.errors.InvalidSchemaName, psycopg.errors.UndefinedTable):
            pass
    elif where.placement == "schema":
        await drop_schema(location)
    else:
        assert where.server_id is not None
        server = await tenancy.server(where.server_id)
        tenancy.registry.forget(where.engine_key)
        provisioner.admin_engines.forget_database(where.database)
        await blocking.database_admin(drop_database, server.admin_url, where.database)
