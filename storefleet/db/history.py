"""A migration history's chain read from its revision files, without Alembic.

Alembic loads a history by importing every revision module (each imports SQLAlchemy's DDL
types, ``alembic.op`` and our DDL helpers): a good part of a second for a command that
finds nothing to migrate. Such a command needs only the head and the chain of revisions,
and those are literal assignments at the top of each file (``revision = "..."``,
``down_revision = "..."``), read here line by line in about a millisecond.

Only a plain history is read this way: one straight chain of literal ids, no branch labels,
no ``depends_on``. Anything else (a merge, a computed id, a file Alembic would refuse)
returns ``None`` and the caller asks Alembic, so the answer is never a guess.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

_FIELDS = ("revision", "down_revision", "branch_labels", "depends_on")
# A module-level assignment of one of them, annotated or not: ``name[: type] = value``.
_ASSIGNMENT = re.compile(
    r"^(revision|down_revision|branch_labels|depends_on)\b[ \t]*(?::[^=\n]*)?=(?!=)(.*)$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class History:
    """Revisions base first, and the file of each."""

    chain: tuple[str, ...]
    paths: dict[str, Path]

    @property
    def head(self) -> str:
        return self.chain[-1]

    def position(self, revision: str) -> int:
        return self.chain.index(revision)


def _literals(path: Path) -> dict[str, object] | None:
    """The module-level assignments of ``_FIELDS``, each once and on one line, as values.

    None when one is assigned twice or to anything but a one-line literal (a computed or
    multi-line value is Alembic's to read). A line-based read, not a parse: the files are
    large (the baselines create whole schemas) and only these few lines matter.
    """
    found: dict[str, object] = {}
    for match in _ASSIGNMENT.finditer(path.read_text(encoding="utf-8")):
        name, value = match.group(1), match.group(2).split("#", 1)[0].strip()
        if name in found:
            return None
        try:
            found[name] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return None
    return found


def read_history(versions: Path) -> History | None:
    """The chain in ``versions`` when it is one straight line of literal ids, else None."""
    down_of: dict[str, str | None] = {}
    paths: dict[str, Path] = {}
    try:
        files = sorted(versions.glob("*.py"))
        for path in files:
            if path.name.startswith(("__init__", ".#")):
                continue
            fields = _literals(path)
            if fields is None:
                return None
            revision, down = fields.get("revision"), fields.get("down_revision")
            if fields.get("branch_labels") or fields.get("depends_on"):
                return None
            if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
                return None
            if revision in down_of:
                return None
            down_of[revision] = down
            paths[revision] = path
    except (OSError, UnicodeDecodeError):
        return None
    child_of: dict[str | None, str] = {}
    for revision, down in down_of.items():
        if down in child_of or (down is not None and down not in down_of):
            return None
        child_of[down] = revision
    chain: list[str] = []
    step = child_of.get(None)
    while step is not None:
        chain.append(step)
        step = child_of.get(step)
    if not chain or len(chain) != len(down_of):
        return None
    return History(chain=tuple(chain), paths=paths)
