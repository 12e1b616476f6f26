"""The tenant Alembic history, applied schema by schema without re-reading it each time.

Alembic's command layer re-parses the script directory and the env for every run, which is
most of the cost of migrating hundreds of schemas. Here the history is loaded once and each
schema's upgrade runs in the caller's transaction, as the owner role, with the schema's own
``alembic_version`` table.

Alembic itself (and the import of every revision file it does) is loaded only when a
schema is upgraded or the history is not a plain chain: the head, the path to a revision
and the checksums of a plain chain come from ``storefleet.db.history``, so a fleet run
with nothing to do never imports it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from sqlalchemy import Connection, MetaData, Table

from storefleet.db.history import History, read_history
from storefleet.db.migrate import migrations_root
from storefleet.tenancy.ddl import (
    APP_ROLE,
    APP_ROLE_OPTION,
    MANAGED_ROLES,
    TenantRoles,
    checked_schema,
    extension_statements,
    head_schema_script,
    ident,
)

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

# alembic's ``op`` and ``context`` are process-wide proxies: one migration at a time per process.
_ALEMBIC_LOCK = threading.Lock()


class ChangedMigrationError(RuntimeError):
    """An applied migration file no longer matches the checksum recorded when it ran."""


class TenantMigrator:
    def __init__(
        self, location: Path | None = None, *, metadata: MetaData | Callable[[], MetaData]
    ) -> None:
        self._metadata = metadata
        self.location = location or migrations_root() / "tenant"
        self._head_scripts: dict[str | None, str] = {}

    @cached_property
    def metadata(self) -> MetaData:
        """The tenant tables (handed over as a function: imported when first needed)."""
        return self._metadata if isinstance(self._metadata, MetaData) else self._metadata()

    @cached_property
    def config(self) -> Config:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(self.location))
        return config

    @cached_property
    def script(self) -> ScriptDirectory:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.config)

    @cached_property
    def history(self) -> History | None:
        """The chain read from the files; None when only Alembic can read the history."""
        return read_history(self.location / "versions")

    @cached_property
    def head(self) -> str:
        if self.history is not None:
            return self.history.head
        head = self.script.get_current_head()
        assert head is not None
        return head

    def resolve(self, target: str) -> str:
        if target == "head":
            return self.head
        if self.history is not None and target in self.history.paths:
            return target
        revision = self.script.get_revision(target)
        if revision is None:
            raise ValueError(f"unknown tenant revision {target!r}")
        return revision.revision

    def knows(self, revision: str) -> bool:
        """Whether ``revision`` is in the history (at any position)."""
        if self.history is not None and revision in self.history.paths:
            return True
        from alembic.util import CommandError

        try:
            return self.script.get_revision(revision) is not None
        except CommandError:
            return False

    def path_between(self, current: str | None, target: str) -> list[str]:
        """Revisions to apply to go from ``current`` to ``target`` (upgrades only)."""
        target = self.resolve(target)
        if current == target:
            return []
        history = self.history
        if history is not None and target in history.paths:
            if current is None:
                return list(history.chain[: history.position(target) + 1])
            if current in history.paths and history.position(current) < history.position(target):
                return list(
                    history.chain[history.position(current) + 1 : history.position(target) + 1]
                )
        revs = list(self.script.iterate_revisions(target, current or "base"))
        return [r.revision for r in reversed(revs)]

    def checksums(self) -> dict[str, str]:
        """sha256 of each revision file, by revision id (head first, as Alembic walks)."""
        if self.history is not None:
            paths = self.history.paths
            return {
                rev: hashlib.sha256(paths[rev].read_bytes()).hexdigest()
                for rev in reversed(self.history.chain)
            }
        sums: dict[str, str] = {}
        for rev in self.script.walk_revisions():
            assert rev.path is not None
            sums[rev.revision] = hashlib.sha256(Path(rev.path).read_bytes()).hexdigest()
        return sums

    @property
    def tables(self) -> list[Table]:
        """The tenant tables at head, in dependency order."""
        return list(self.metadata.sorted_tables)

    @property
    def head_script(self) -> str:
        return self.head_script_for(MANAGED_ROLES)

    def head_script_for(self, roles: TenantRoles) -> str:
        """The head script granting to ``roles.app``.

        Kept for the shared request role and for none; a store's own role (one external
        database) gets its script built when it is needed, so memory does not grow per store.
        """
        script = self._head_scripts.get(roles.app)
        if script is None:
            script = head_schema_script(self.tables, self.head, app_role=roles.app)
            if roles.app in (APP_ROLE, None):
                self._head_scripts[roles.app] = script
        return script

    def enter_schema(
        self, conn: Connection, schema: str, *, roles: TenantRoles = MANAGED_ROLES
    ) -> None:
        """Make the rest of the caller's transaction act as the owner inside ``schema``.

        Extensions are installed first, as the connecting (admin) user: the owner role may
        not have CREATE on a database it does not own (an owner-supplied one). Without an
        owner role (owner-role isolation) the connecting user is the owner.
        """
        for statement in extension_statements():
            conn.exec_driver_sql(statement)
        if roles.owner:
            conn.exec_driver_sql(f"SET LOCAL ROLE {ident(roles.owner)}")
        conn.exec_driver_sql(f"SET LOCAL search_path TO {ident(checked_schema(schema))}")

    def create_head(
        self, conn: Connection, schema: str, *, roles: TenantRoles = MANAGED_ROLES
    ) -> None:
        """Create every tenant table at head in an empty schema, stamped, in the caller's txn."""
        self.enter_schema(conn, schema, roles=roles)
        conn.exec_driver_sql(self.head_script_for(roles))

    def upgrade(
        self,
        conn: Connection,
        schema: str,
        target: str = "head",
        *,
        roles: TenantRoles = MANAGED_ROLES,
    ) -> tuple[str | None, str]:
        """Upgrade one schema inside the caller's transaction; returns (from, to).

        Migrations grant to ``roles.app`` (``secure_table`` reads it from the context).
        """
        target = self.resolve(target)
        self.enter_schema(conn, schema, roles=roles)
        current = self.current_revision(conn, schema)
        if current == target:
            return current, target

        def fn(rev: object, context: object) -> object:
            return self.script._upgrade_revs(target, rev)  # type: ignore[arg-type]

        from alembic.runtime.environment import EnvironmentContext

        grants: dict[str, Any] = {APP_ROLE_OPTION: roles.app}
        with _ALEMBIC_LOCK:
            env = EnvironmentContext(self.config, self.script, fn=fn, destination_rev=target)
            with env:
                env.configure(
                    connection=conn,
                    version_table_schema=schema,
                    transactional_ddl=True,
                    **grants,
                )
                env.run_migrations()
        return current, target

    def current_revision(self, conn: Connection, schema: str) -> str | None:
        return self.current_revisions(conn, [schema]).get(schema)

    def current_revisions(
        self, conn: Connection | psycopg.Connection[Any], schemas: Sequence[str]
    ) -> dict[str, str | None]:
        """Every schema's revision (None: no version table).

        On an autocommit driver connection (fleet runs) the version tables are read in one
        statement on the bet that they all exist, so a database with nothing to do costs
        one query; a missing table falls back to asking the catalog first. Inside a
        transaction (a SQLAlchemy connection) the catalog is always asked first, since a
        failed statement would abort the caller's transaction.
        """
        schemas = [checked_schema(s) for s in schemas]
        if not schemas:
            return {}
        result: dict[str, str | None] = {s: None for s in schemas}

        def run(query: str, params: tuple[Any, ...] | None = None) -> list[Any]:
            if isinstance(conn, Connection):
                return list(conn.exec_driver_sql(query, params))
            return conn.execute(query.encode(), params).fetchall()

        def versions(present: Sequence[str]) -> list[Any]:
            return [row for chunk in _version_reads(present) for row in run(chunk)]

        def with_tables() -> list[str]:
            return [s for (s,) in run(VERSION_TABLES_SQL, (schemas,))]

        if isinstance(conn, Connection):
            rows = versions(with_tables())
        else:
            try:
                rows = versions(schemas)
            except psycopg.errors.UndefinedTable:
                rows = versions(with_tables())
        for schema, version in rows:
            result[schema] = version
        return result


VERSION_TABLES_SQL = (
    "SELECT n.nspname::text FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relname = 'alembic_version' AND n.nspname = ANY(%s)"
)


def _version_reads(schemas: Sequence[str], chunk: int = 500) -> list[str]:
    """``SELECT '<schema>', version_num FROM <schema>.alembic_version UNION ALL …``."""
    parts = [
        f"SELECT '{s}'::text AS schema, version_num FROM {ident(checked_schema(s))}.alembic_version"  # noqa: S608
        for s in schemas
    ]
    return [" UNION ALL ".join(parts[i : i + chunk]) for i in range(0, len(parts), chunk)]


def record_checksums(
    existing: dict[str, str], current: dict[str, str], applied: Iterable[str]
) -> dict[str, str]:
    """Refuse when an applied file changed; return the checksums to record for new ones."""
    changed = [r for r in applied if r in existing and existing[r] != current.get(r)]
    if changed:
        raise ChangedMigrationError(
            "tenant migration files changed after they were applied: " + ", ".join(sorted(changed))
        )
    return {r: current[r] for r in applied if r not in existing and r in current}
