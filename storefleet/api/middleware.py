"""ASGI middleware that must run before any route sees the request."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storefleet.asgi import PROBLEM_TYPE_BASE, StatusCapture, send_problem


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """Refuse request bodies over ``max_bytes`` with 413, whether declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await self._reject(send, 400, "Invalid Content-Length header")
                    return
                if declared > self.max_bytes:
                    await self._reject(send, 413, self._too_large())
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        sent = StatusCapture(send)
        try:
            await self.app(scope, limited_receive, sent)
        except BodyTooLarge:
            if not sent.started:
                await self._reject(send, 413, self._too_large())

    def _too_large(self) -> str:
        return f"Request body exceeds {self.max_bytes} bytes"

    async def _reject(self, send: Send, status: int, detail: str) -> None:
        await send_problem(
            send,
            {
                "type": PROBLEM_TYPE_BASE
                + ("payload-too-large" if status == 413 else "bad-request"),
                "title": "Payload too large" if status == 413 else "Bad request",
                "status": status,
                "detail": detail,
            },
        )
