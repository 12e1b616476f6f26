"""Two things every ASGI middleware of ours needs: the status a response went out with, and
a problem+json answer written straight to ``send``.

The rate limiter refunds a request the app refused, metering records the status of every
request, and the body limit must know whether a response has begun: each wraps ``send``
with a ``StatusCapture`` instead of its own closure. Middlewares answer before the app
runs, so they cannot use FastAPI's exception handlers; ``send_problem`` writes the same
RFC 9457 body those handlers do.
"""

from __future__ import annotations

import json

from starlette.types import Message, Send

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://storefleet.dev/problems/"


class StatusCapture:
    """A ``send`` that remembers the response's status (``default`` until it starts)."""

    def __init__(self, send: Send, default: int = 0) -> None:
        self._send = send
        self.status = default
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
        await self._send(message)


async def send_problem(
    send: Send, problem: dict[str, object], *, retry_after: int | None = None
) -> None:
    """Answer ``problem`` (its ``status`` is the response's) as application/problem+json."""
    body = json.dumps(problem).encode()
    headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": problem["status"], "headers": headers})
    await send({"type": "http.response.body", "body": body})
