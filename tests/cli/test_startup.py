"""Fleet commands start fast: what they import is what they use.

``storefleet tenants migrate`` with nothing to do is one query per database; the web stack,
the commerce models, Alembic and the token signer would be most of its run time. Each check
runs in a fresh interpreter, so what an earlier test imported cannot hide an import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL

from storefleet.testing import TEST_ENV

# Never needed by `tenants migrate` when nothing is behind (nor by importing the CLI).
UNUSED = ("fastapi", "starlette", "storefleet.api", "storefleet.commerce", "alembic", "jwt")


def _loaded_after(code: str, env: dict[str, str] | None = None) -> set[str]:
    """The modules loaded once ``code`` ran in a fresh interpreter (it must exit 0)."""
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('\\nMODULES', ' '.join(sorted(sys.modules))))\n" + code
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return set(done.stdout.rsplit("MODULES", 1)[1].split())


def _unused_among(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in UNUSED or m.startswith(UNUSED))


def test_importing_the_cli_loads_no_web_stack_and_no_domain() -> None:
    assert _unused_among(_loaded_after("import storefleet.cli.main")) == []


def test_noop_tenants_migrate_loads_only_what_it_uses(tmp_path: Path, control_db: URL) -> None:
    env = {
        **TEST_ENV,
        "STOREFLEET_HOME": str(tmp_path),
        "STOREFLEET_DATABASE_URL": control_db.render_as_string(hide_password=False),
    }
    code = (
        "from storefleet.cli.main import app\n"
        "try:\n"
        "    app(['tenants', 'migrate'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
    )
    loaded = _loaded_after(code, env)
    assert "storefleet.control.placements.fleet" in loaded
    assert _unused_among(loaded) == []
