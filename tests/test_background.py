"""A background loop's stop ends it even when the loop swallows its own cancellation."""

from __future__ import annotations

import asyncio

import pytest

from storefleet.background import BackgroundLoop, cancel_and_wait


class SwallowsCancel(BackgroundLoop):
    """Like a loop whose cancelled database call comes back as OperationalError."""

    name = "swallows-cancel"

    def __init__(self) -> None:
        super().__init__()
        self.rounds = 0
        self.released = False

    async def run(self) -> None:
        while not self.released:  # ignores ``stopping`` on purpose
            self.rounds += 1
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass  # the cancellation turned into another error and was handled


class Polite(BackgroundLoop):
    async def run(self) -> None:
        while not self.stopping:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass


def test_stop_repeats_a_swallowed_cancel_until_the_task_ends() -> None:
    asyncio.run(_polite_stops())


async def _polite_stops() -> None:
    loop = Polite()
    loop.start()
    await asyncio.sleep(0)
    assert loop.running
    await asyncio.wait_for(loop.stop(), 5)
    assert not loop.running


def test_stop_gives_up_after_its_bound_instead_of_hanging(caplog: pytest.LogCaptureFixture) -> None:
    asyncio.run(_stubborn_is_given_up())
    assert "did not stop" in caplog.text


async def _stubborn_is_given_up() -> None:
    loop = SwallowsCancel()
    loop.start()
    await asyncio.sleep(0)
    task = loop._task
    assert task is not None
    await asyncio.wait_for(loop.stop(within=0.5), 5)
    assert loop.rounds >= 2  # it was cancelled more than once
    assert not task.done()
    loop.released = True
    task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert task.done()


def test_cancel_and_wait_reports_a_task_that_failed(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    async def main() -> None:
        task = asyncio.create_task(fails())
        await asyncio.sleep(0)
        await cancel_and_wait(task)

    asyncio.run(main())
    assert "boom" in caplog.text
