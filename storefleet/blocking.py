"""Bounded thread limiters for blocking work, apart from FastAPI's thread pool.

``anyio.to_thread.run_sync`` without a limiter shares one process-wide pool of 40 threads
with everything else, FastAPI's sync code included. Work that can block for long — argon2
(memory-hard by design), DDL and copies on databases, a slow owner's server — gets a
limiter of its own here, so a burst of logins or a stuck owner database fills its own
queue and never the one every request may need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.to_thread

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

HASHING = anyio.CapacityLimiter(2)
DATABASE_ADMIN = anyio.CapacityLimiter(8)
NAME_LOOKUPS = anyio.CapacityLimiter(8)


def configure(*, hashing: int, database_admin: int) -> None:
    """Size the limiters from settings (once, at start-up)."""
    HASHING.total_tokens = hashing
    DATABASE_ADMIN.total_tokens = database_admin


async def hashing(func: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """Run a password hash or verify on the hashing threads."""
    return await anyio.to_thread.run_sync(func, *args, limiter=HASHING)


async def database_admin(func: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """Run blocking database administration (DDL, provisioning, drops) on its own threads."""
    return await anyio.to_thread.run_sync(func, *args, limiter=DATABASE_ADMIN)


async def name_lookup(func: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """Run a DNS lookup; abandoned (not waited for) when the caller is cancelled."""
    return await anyio.to_thread.run_sync(func, *args, limiter=NAME_LOOKUPS, abandon_on_cancel=True)
