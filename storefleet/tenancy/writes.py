"""Which tables a tenant write transaction wrote, told to whoever asked once it has committed.

Tenancy knows no domain: it does not know which tables matter to anyone. It records the
names of the tables each write transaction's statements wrote (``INSERT``, ``UPDATE``,
``DELETE``, ``MERGE``, ``TRUNCATE``, ``COPY … FROM``, also inside a CTE) and, after
``COMMIT``, hands them to the callbacks registered with ``Tenancy.after_commit`` (the
runtime wires the storefront cache's invalidation there).

The SQL *as sent* is read, on the engine's ``before_cursor_execute`` event, so ORM flushes,
bulk ``update()``/``delete()``/``insert()``, ``text()`` and Core statements are all seen
the same way. A statement whose first word is neither a known read nor a known write (a
``CALL``, a ``DO`` block…) records ``UNKNOWN``: a listener must treat it as "anything may
have changed". Only transactions opened by ``Tenancy.session(write=True)`` are tracked: the
set travels as an execution option of that transaction's connection.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

WRITES_OPTION = "storefleet_tables_written"
UNKNOWN = "*"
AfterCommit = Callable[[UUID, frozenset[str]], Awaitable[None]]

_NAME = r'((?:"[^"]+"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:"[^"]+"|[A-Za-z_][\w$]*))?)'
_WRITTEN = re.compile(
    r"\b(?:INSERT\s+INTO|(?<!FOR )(?<!KEY )(?<!DO )UPDATE(?:\s+ONLY)?|DELETE\s+FROM(?:\s+ONLY)?"
    r"|MERGE\s+INTO|TRUNCATE(?:\s+TABLE)?(?:\s+ONLY)?)\s+" + _NAME,
    re.IGNORECASE,
)
_COPIED_IN = re.compile(r"^\s*COPY\s+" + _NAME + r"[^;]*?\bFROM\b", re.IGNORECASE)
_FIRST_WORD = re.compile(r"\s*(?:/\*.*?\*/\s*|--[^\n]*\n\s*)*([A-Za-z]+)", re.DOTALL)
# Statements that write nothing by themselves (what they contain is matched above).
_READ_WORDS = frozenset(
    {
        "select", "with", "values", "show", "set", "reset", "begin", "start", "commit", "end",
        "rollback", "savepoint", "release", "lock", "explain", "listen", "notify", "prepare",
        "insert", "update", "delete", "merge", "truncate", "copy", "table", "fetch", "close",
        "declare", "discard", "deallocate",
    }
)  # fmt: skip


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1].strip().strip('"')


def tables_written(sql: str) -> set[str]:
    """The tables one SQL string writes; ``{UNKNOWN}`` if it may write what it does not say."""
    found = {_bare(m.group(1)) for m in _WRITTEN.finditer(sql)}
    copied = _COPIED_IN.match(sql)
    if copied:
        found.add(_bare(copied.group(1)))
    first = _FIRST_WORD.match(sql)
    if first is None or first.group(1).lower() not in _READ_WORDS:
        found.add(UNKNOWN)
    return found


def _record(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    written = conn.get_execution_options().get(WRITES_OPTION)
    if written is not None:
        written.update(tables_written(statement))


def track_writes(engine: AsyncEngine) -> None:
    """Record written tables for the tracked transactions of ``engine`` (once per engine)."""
    event.listen(engine.sync_engine, "before_cursor_execute", _record)
