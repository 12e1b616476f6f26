"""Blocking work has threads of its own: a full default thread pool does not stop a login.

FastAPI (and every ``anyio.to_thread.run_sync`` without a limiter) shares anyio's default
pool of 40 threads. Here all of them are taken by something slow; a login, whose argon2
runs on the hashing limiter, still completes at once.
"""

from __future__ import annotations

import asyncio
import threading
import time

import anyio
import anyio.to_thread
from fastapi.testclient import TestClient

from storefleet.testing import Accounts

HELD_SECONDS = 15.0


def test_a_full_default_thread_pool_does_not_block_password_hashing(
    client: TestClient, accounts: Accounts
) -> None:
    account = accounts.register()
    release = threading.Event()
    held: list[asyncio.Task[object]] = []

    async def occupy_default_pool() -> None:
        limiter = anyio.to_thread.current_default_thread_limiter()
        for _ in range(int(limiter.total_tokens)):
            held.append(asyncio.create_task(anyio.to_thread.run_sync(release.wait)))
        while limiter.borrowed_tokens < limiter.total_tokens:  # noqa: ASYNC110 (no event to wait on)
            await asyncio.sleep(0.01)

    async def free_default_pool() -> None:
        release.set()
        await asyncio.gather(*held)

    client.portal.call(occupy_default_pool)  # type: ignore[union-attr]
    # On code that hashes on the default pool the login waits for this release.
    timer = threading.Timer(HELD_SECONDS, release.set)
    timer.start()
    try:
        started = time.monotonic()
        answer = client.post(
            "/api/auth/login",
            json={"email": account["user"]["email"], "password": account["password"]},  # type: ignore[index]
        )
        elapsed = time.monotonic() - started
    finally:
        timer.cancel()
        client.portal.call(free_default_pool)  # type: ignore[union-attr]
    assert answer.status_code == 200, answer.text
    assert elapsed < HELD_SECONDS / 2, f"the login waited {elapsed:.1f}s for a thread"
