"""Connection parameters for databases the platform does not own (a store owner's server).

Such a server is hostile input. Every connection to it — the connect-database check,
provisioning and migrations, moves, request engines — is opened with the same libpq
parameters, built here:

- ``hostaddr`` pinned to addresses that passed the address check (the name is kept in
  ``host`` for TLS: SNI and ``verify-full``), so a DNS answer that changes after the check
  (rebinding) cannot steer us to an internal address;
- ``connect_timeout``, and ``statement_timeout`` / ``lock_timeout`` as startup options, so a
  server that accepts and then stalls holds one store's work, never a thread pool;
- ``search_path=pg_catalog`` as a startup option (over any ``ALTER ROLE/DATABASE … SET``
  the owner made), so unqualified names in our SQL cannot resolve to planted objects;
- ``passfile=/dev/null``, ``sslcertmode=disable`` and ``require_auth``: no password file,
  client certificate or environment credential of ours is ever offered to that server,
  and a server that does not prove it knows the password (trust, cleartext) is refused.

Transaction-mode poolers (PgBouncer, Supavisor on 6543) refuse or ignore startup options;
for them the timeouts travel with each transaction instead (request sessions set them with
``set_config(..., true)``), and only ``connect_timeout`` applies to their DDL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import URL

from storefleet.config import Settings

POOLER_TRANSACTION_PORT = 6543
# Parameters this module sets; an owner's URL never carries its own values for them.
MANAGED_PARAMS = frozenset(
    {
        "host",
        "hostaddr",
        "connect_timeout",
        "options",
        "passfile",
        "sslcertmode",
        "require_auth",
    }
)


def unmanaged(url: URL) -> URL:
    """``url`` without the parameters this module sets (a unix socket directory stays)."""
    query = {k: v for k, v in url.query.items() if k not in MANAGED_PARAMS}
    if "host" in url.query and not url.host:
        query["host"] = url.query["host"]
    return url.set(query=query)


def milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def is_behind_pooler(url: URL) -> bool:
    """Transaction-mode poolers (Supavisor, PgBouncer) forbid session state and prepares."""
    return url.port == POOLER_TRANSACTION_PORT or "pooler" in (url.host or "").lower()


@dataclass(frozen=True)
class ForeignPolicy:
    """The limits every connection to an owner's database is opened with."""

    connect_timeout: int = 10
    statement_timeout: float = 60.0
    lock_timeout: float = 10.0
    require_auth: str = "scram-sha-256"

    @classmethod
    def from_settings(cls, settings: Settings) -> ForeignPolicy:
        return cls(
            connect_timeout=settings.owner_connect_timeout_seconds,
            statement_timeout=settings.owner_statement_timeout_seconds,
            lock_timeout=settings.owner_lock_timeout_seconds,
            require_auth=settings.owner_database_require_auth,
        )

    def startup_options(self, *, statement_timeout: float | None = None) -> str:
        stmt = milliseconds(statement_timeout or self.statement_timeout)
        return (
            f"-c search_path=pg_catalog -c statement_timeout={stmt} "
            f"-c lock_timeout={milliseconds(self.lock_timeout)}"
        )

    def apply(
        self,
        url: URL,
        addresses: Sequence[str] = (),
        *,
        statement_timeout: float | None = None,
    ) -> URL:
        """``url`` with this policy's parameters, pinned to ``addresses`` when given."""
        query = dict(unmanaged(url).query)
        query |= {
            "connect_timeout": str(self.connect_timeout),
            "passfile": "/dev/null",
            "sslcertmode": "disable",
            "require_auth": self.require_auth,
        }
        if url.host and addresses:
            query["host"] = ",".join([url.host] * len(addresses))
            query["hostaddr"] = ",".join(addresses)
        if not is_behind_pooler(url):
            query["options"] = self.startup_options(statement_timeout=statement_timeout)
        return url.set(query=query)

    def with_statement_timeout(self, url: URL, seconds: float) -> URL:
        """The same connection with another statement timeout (a move's long COPYs)."""
        if "options" not in url.query:
            return url
        return url.update_query_dict({"options": self.startup_options(statement_timeout=seconds)})
