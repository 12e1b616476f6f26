"""The PostgreSQL server tests run against, and per-test databases cloned from templates."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from storefleet.db.embedded import start_embedded_server
from storefleet.db.urls import libpq_conninfo, parse_url, with_database

ENV_VAR = "STOREFLEET_TEST_DATABASE_URL"


def test_server_url() -> URL:
    """The server named by STOREFLEET_TEST_DATABASE_URL, else a throwaway embedded server."""
    raw = os.environ.get(ENV_VAR)
    if raw:
        return parse_url(raw)
    home = Path(tempfile.mkdtemp(prefix="sf-test-"))
    # Exit hooks run last-registered first: the server stops, then its folder goes.
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return start_embedded_server(home, stop_at_exit=True)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def admin_execute(server: URL, statement: sql.Composable | str) -> None:
    with psycopg.connect(libpq_conninfo(with_database(server, "postgres")), autocommit=True) as c:
        c.execute(statement)


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
