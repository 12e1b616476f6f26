"""``read_history`` reads the same chain Alembic does, or declines."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from storefleet.db.history import read_history
from storefleet.db.migrate import migrations_root

REVISION = '''"""r"""
revision: str = "{rev}"
down_revision: str | None = {down!r}
branch_labels = None
depends_on = None
'''


def alembic_chain(location: Path) -> list[str]:
    config = Config()
    config.set_main_option("script_location", str(location))
    script = ScriptDirectory.from_config(config)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.mark.parametrize("name", ["control", "tenant"])
def test_the_real_histories_read_as_alembic_reads_them(name: str) -> None:
    history = read_history(migrations_root() / name / "versions")
    assert history is not None
    assert list(history.chain) == alembic_chain(migrations_root() / name)
    assert all(path.exists() for path in history.paths.values())


def write(versions: Path, rev: str, down: str | None, extra: str = "") -> None:
    (versions / f"{rev}.py").write_text(REVISION.format(rev=rev, down=down) + extra)


def test_a_straight_chain_in_any_file_order(tmp_path: Path) -> None:
    write(tmp_path, "c", "b")
    write(tmp_path, "a", None)
    write(tmp_path, "b", "a")
    history = read_history(tmp_path)
    assert history is not None
    assert history.chain == ("a", "b", "c")
    assert history.head == "c"


@pytest.mark.parametrize(
    "extra",
    [
        'revision = "again"\n',  # assigned twice
        "branch_labels = ('x',)\n",
        "depends_on = 'a'\n",
    ],
)
def test_declines_what_is_not_a_plain_literal_chain(tmp_path: Path, extra: str) -> None:
    write(tmp_path, "a", None)
    (tmp_path / "b.py").write_text(
        REVISION.format(rev="b", down="a")
        .replace("branch_labels = None\n", "")
        .replace("depends_on = None\n", "")
        + extra
    )
    assert read_history(tmp_path) is None


def test_declines_branches_computed_ids_and_gaps(tmp_path: Path) -> None:
    write(tmp_path, "a", None)
    write(tmp_path, "b", "a")
    write(tmp_path, "c", "a")
    assert read_history(tmp_path) is None  # two heads

    for path in tmp_path.glob("*.py"):
        path.unlink()
    write(tmp_path, "a", None)
    (tmp_path / "b.py").write_text('revision = "b" + ""\ndown_revision = "a"\n')
    assert read_history(tmp_path) is None  # computed

    for path in tmp_path.glob("*.py"):
        path.unlink()
    write(tmp_path, "b", "missing")
    assert read_history(tmp_path) is None  # down revision not in the history
