"""Running the control-plane Alembic history from code (CLI, ``serve``, tests).

Alembic is imported by the functions that run it: ``migrations_root`` is also what the
fleet commands use to find the tenant history, and they must not pay for Alembic when
there is nothing to migrate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import URL


def migrations_root() -> Path:
    """The ``migrations`` folder: beside the package in a checkout, inside it in a wheel."""
    package_dir = Path(__file__).resolve().parents[1]
    for candidate in (package_dir.parent / "migrations", package_dir / "_migrations"):
        if (candidate / "control" / "env.py").exists():
            return candidate
    raise RuntimeError("migrations folder not found")


def alembic_config(url: URL, history: str = "control") -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_root() / history))
    cfg.set_main_option(
        "sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%")
    )
    return cfg


def upgrade_control(url: URL, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


@dataclass(frozen=True)
class MigrationStatus:
    current: str | None
    head: str | None

    @property
    def at_head(self) -> bool:
        return self.current == self.head


def head_revision(history: str = "control") -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_root() / history))
    return ScriptDirectory.from_config(cfg).get_current_head()


def control_status(url: URL) -> MigrationStatus:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, pool

    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    return MigrationStatus(current=current, head=head_revision())
