"""Every PostgreSQL advisory lock the platform takes, by name.

Two pieces of code that must exclude each other have to agree on a number; a number
written in two files is a collision waiting for a third. A lock is either a fixed key
(``Key``: one platform-wide critical section) or a text key hashed with a seed
(``Seed``: one lock per store, email or hostname), ``hashtextextended(text, seed)``.
Seeds and keys share the 7301 prefix, so no other software's advisory locks on a shared
server are likely to collide with ours.
"""

from __future__ import annotations

from enum import IntEnum


class Key(IntEnum):
    """Fixed keys for platform-wide critical sections."""

    DEFAULT_SERVER = 7_301_001  # choosing or registering the default database server
    TENANT_TEMPLATE = 7_301_002  # building the tenant schema template on a server
    PREPARE_SERVER = 7_301_003  # preparing a server (roles, extensions) for tenants


class Seed(IntEnum):
    """Seeds for locks on a text key."""

    STORE_WRITES = 7301  # shared by every write transaction of a store, exclusive by a move
    CUSTOMER_EMAIL = 7302  # one guest customer / one discount use per email at a time
    CATALOG_LIMIT = 7303  # counting a store's products against its plan
    HOSTNAME = 7305  # claiming a hostname

    def sql(self, param: str = ":k") -> str:
        """The lock's key as SQL on the text bound to ``param``."""
        return f"hashtextextended({param}, {int(self)})"

    def qualified_sql(self, param: str = "%s") -> str:
        """``sql`` with the function schema-qualified, for sessions whose search_path an
        untrusted database owner controls."""
        return f"pg_catalog.hashtextextended({param}, {int(self)})"
