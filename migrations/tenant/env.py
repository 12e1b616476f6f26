"""Alembic environment of the tenant schema (all placements).

storefleet's tenant migrator drives this history itself (``storefleet.tenancy.migrations``),
schema by schema; this env.py exists for ``alembic revision --autogenerate`` against a
scratch schema, passed as ``-x schema=NAME``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from storefleet.commerce.models import TenantBase
from storefleet.tenancy.ddl import checked_schema, ident

config = context.config
target_metadata = TenantBase.metadata


def run_migrations_online() -> None:
    schema = checked_schema(context.get_x_argument(as_dictionary=True).get("schema", "tenant"))
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SET search_path TO {ident(schema)}")
        context.configure(
            connection=conn,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=False,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
