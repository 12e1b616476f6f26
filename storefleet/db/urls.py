"""Connection URLs: one normal form for every server storefleet talks to."""

from __future__ import annotations

from typing import Any

from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import URL, make_url

DRIVER = "postgresql+psycopg"
# libpq parameters SQLAlchemy's URL handling would misread (``host`` lists are parsed as
# its own multi-host syntax): engines get them as connect arguments instead.
_DRIVER_ONLY_PARAMS = ("host", "hostaddr", "options")


class DatabaseURLError(ValueError):
    pass


def parse_url(raw: str | URL) -> URL:
    """Parse a PostgreSQL URL and pin the psycopg 3 driver."""
    try:
        url = make_url(raw) if isinstance(raw, str) else raw
    except Exception as exc:
        raise DatabaseURLError("not a valid database URL") from exc
    if url.get_backend_name() not in {"postgresql", "postgres"}:
        raise DatabaseURLError("only PostgreSQL URLs are supported")
    return url.set(drivername=DRIVER)


def with_database(url: URL, database: str) -> URL:
    return url.set(database=database)


def libpq_params(url: URL) -> dict[str, Any]:
    """The URL as libpq keywords; query parameters (``hostaddr``, ``options``…) win."""
    params: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
    }
    for key, value in url.query.items():
        params[key] = ",".join(value) if isinstance(value, tuple) else value
    return {k: v for k, v in params.items() if v is not None}


def libpq_conninfo(url: URL) -> str:
    """A libpq connection string (``key=value`` pairs, quoted) for psycopg.connect and psql."""
    return make_conninfo("", **libpq_params(url))


def libpq_uri(url: URL) -> str:
    """A ``postgresql://`` URI (what a user pastes, what ``connect-database`` takes)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def engine_url_and_args(url: URL) -> tuple[URL, dict[str, Any]]:
    """Split a URL for ``create_engine``: what SQLAlchemy may parse, and connect arguments."""
    moved = {k: url.query[k] for k in _DRIVER_ONLY_PARAMS if k in url.query}
    if not moved:
        return url, {}
    rest = {k: v for k, v in url.query.items() if k not in moved}
    return url.set(query=rest), moved


def redacted(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=True)
