"""Alembic environment of the control plane.

The connection (or URL) is handed in by ``storefleet.db.migrate``; nothing is read from an
ini file, so the same history runs from the CLI, from ``serve`` and from the tests.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from storefleet.control.models import ControlBase

config = context.config
target_metadata = ControlBase.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported")
run_migrations_online()
