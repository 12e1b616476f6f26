"""Connection URLs: one normal form for every server storefleet talks to."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

DRIVER = "postgresql+psycopg"


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


def libpq_conninfo(url: URL) -> str:
    """A plain libpq URL (no SQLAlchemy driver suffix) for psycopg.connect and psql."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def redacted(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=True)
