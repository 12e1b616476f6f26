"""The sign-in throttle's counting, on its in-memory store and on the control-plane store
every worker process shares: the same answers for the same clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import psycopg
import pytest
from sqlalchemy.engine import URL

from storefleet.control.accounts.login_failures import PRUNE_PER_WRITE, ControlFailures
from storefleet.db.engine import create_engine_for
from storefleet.errors import RateLimited
from storefleet.security.throttle import FailureStore, LoginThrottle, MemoryFailures

WINDOW = 60


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


Scenario = Callable[[LoginThrottle, Clock], Awaitable[None]]


@pytest.fixture(params=["memory", "control"])
def run(request: pytest.FixtureRequest, control_db: URL) -> Iterator[Callable[[Scenario], None]]:
    """Runs a scenario against a fresh throttle (limits 3 per pair, 5 per client)."""

    def go(scenario: Scenario) -> None:
        async def main() -> None:
            clock = Clock()
            engine = create_engine_for(control_db)
            store: FailureStore = (
                MemoryFailures()
                if request.param == "memory"
                else ControlFailures(engine, control_db)
            )
            store.clear()
            throttle = LoginThrottle(
                max_failures=3,
                window_seconds=WINDOW,
                max_client_failures=5,
                clock=clock,
                store=store,
            )
            try:
                await scenario(throttle, clock)
            finally:
                await engine.dispose()

        asyncio.run(main())

    yield go


async def fail(throttle: LoginThrottle, email: str, client: str = "192.0.2.1") -> None:
    attempt = await throttle.attempt("account", email, client)
    await attempt.failed()


async def refused(throttle: LoginThrottle, email: str, client: str = "192.0.2.1") -> int:
    with pytest.raises(RateLimited) as caught:
        await throttle.attempt("account", email, client)
    return caught.value.retry_after or 0


def test_a_pair_is_refused_after_its_limit_until_the_oldest_failure_leaves(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(throttle: LoginThrottle, clock: Clock) -> None:
        for _ in range(3):
            await fail(throttle, "A@example.com")
            clock.now += 10
        assert await refused(throttle, "a@example.com ") == WINDOW - 30 + 1
        await throttle.attempt("account", "a@example.com", "198.51.100.7")  # another client
        await throttle.attempt("staff:x", "a@example.com", "192.0.2.1")  # another realm
        clock.now += WINDOW - 30 + 1
        await throttle.attempt("account", "a@example.com", "192.0.2.1")

    run(scenario)


def test_a_client_failing_over_many_emails_is_refused_for_every_email(
    run: Callable[[Scenario], None],
) -> None:
    async def scenario(throttle: LoginThrottle, clock: Clock) -> None:
        for i in range(5):
            await fail(throttle, f"u{i}@example.com")
        assert await refused(throttle, "never-tried@example.com") == WINDOW + 1
        await throttle.attempt("account", "never-tried@example.com", "192.0.2.2")

    run(scenario)


def test_success_clears_the_pair_but_not_the_client(run: Callable[[Scenario], None]) -> None:
    async def scenario(throttle: LoginThrottle, clock: Clock) -> None:
        for _ in range(2):
            await fail(throttle, "a@example.com")
        await (await throttle.attempt("account", "a@example.com", "192.0.2.1")).succeeded()
        for _ in range(2):
            await fail(throttle, "a@example.com")
        await throttle.attempt("account", "a@example.com", "192.0.2.1")  # 2 < 3: admitted
        await fail(throttle, "b@example.com")  # the client's fifth failure
        assert await refused(throttle, "c@example.com") > 0

    run(scenario)


def test_control_rows_are_few_and_expired_ones_are_pruned_on_write(
    control_db: URL, control_conn: psycopg.Connection
) -> None:
    async def main() -> None:
        clock = Clock()
        engine = create_engine_for(control_db)
        store = ControlFailures(engine, control_db)
        store.clear()
        throttle = LoginThrottle(
            max_failures=3, window_seconds=WINDOW, max_client_failures=5, clock=clock, store=store
        )
        try:
            for i in range(PRUNE_PER_WRITE):
                await fail(throttle, "a@example.com", f"203.0.113.{i}")
            for _ in range(20):
                await store.record([b"one key"], clock.now, WINDOW, keep=5)
            clock.now += WINDOW + 1
            await fail(throttle, "b@example.com", "192.0.2.9")
        finally:
            await engine.dispose()

    asyncio.run(main())
    rows = control_conn.execute(
        "SELECT count(*), max(cardinality(failures)) FROM login_failures"
    ).fetchone()
    # 2 * PRUNE_PER_WRITE + 1 rows were written; the last write pruned PRUNE_PER_WRITE of
    # those (all expired) and added its own two. No row keeps more than ``keep`` times.
    assert rows == (PRUNE_PER_WRITE + 3, 5)
