"""One shape for the process's background loops, with a stop that always ends them.

Each loop (usage flusher, credit outbox, revoked-token pruner, routing listener) catches
``Exception`` so one failed round does not end it. A cancellation that lands inside a
database call can come back as another exception: psycopg's rollback after a cancelled COPY
raises ``OperationalError``, which replaces the ``CancelledError``. The loop then swallowed
its own cancellation and shutdown waited for it forever (a CI run hung for 300 s on exactly
that). ``stop`` therefore marks the loop stopping, cancels again until the task has ended,
and gives up after a bound with a warning instead of hanging the process.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 10.0
RECANCEL_SECONDS = 0.2


class BackgroundLoop(ABC):
    """A named task started once per process; subclasses write ``run``."""

    name = "background-loop"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self.stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self.stopping = False
            self._task = asyncio.create_task(self.run(), name=self.name)

    @abstractmethod
    async def run(self) -> None:
        """The loop; should return once ``stopping`` is set."""

    async def stop(self, *, within: float = STOP_TIMEOUT_SECONDS) -> None:
        self.stopping = True
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task, within=within)


async def cancel_and_wait(
    task: asyncio.Task[None], *, within: float = STOP_TIMEOUT_SECONDS
) -> None:
    """Cancel ``task`` until it has ended (a swallowed cancel is repeated), for ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not task.done():
        task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("background task %s did not stop within %.0f s", task.get_name(), within)
            return
        await asyncio.wait({task}, timeout=min(RECANCEL_SECONDS, remaining))
    if not task.cancelled() and task.exception() is not None:
        log.warning("background task %s ended with %r", task.get_name(), task.exception())
