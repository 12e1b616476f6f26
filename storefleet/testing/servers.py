"""The app under test: a started runtime, in-process HTTP clients, live uvicorn servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.config import Settings
from storefleet.runtime import Runtime

if TYPE_CHECKING:  # the test client warns on import; benchmarks never use it
    from fastapi.testclient import TestClient


@contextlib.asynccontextmanager
async def started_runtime(settings: Settings, control: URL) -> AsyncIterator[Runtime]:
    """A ``Runtime`` built and started like ``storefleet serve`` does, closed after."""
    runtime = Runtime.build(settings, control)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.aclose()


@contextlib.contextmanager
def app_client(settings: Settings, control: URL) -> Iterator[TestClient]:
    """The app in process, its lifespan run; server errors answer 500 as in production."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings, control), raise_server_exceptions=False) as client:
        yield client


def asgi_client(app: Any, base_url: str = "http://testserver") -> httpx.AsyncClient:
    """An async client calling the app in process (concurrent requests on one loop)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def live_server(app: FastAPI, **options: Any) -> Iterator[str]:
    """The app in a real uvicorn server on a free port, in a thread; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options
    )
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not instance.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(30)


def serve(app: FastAPI, port: int, **options: Any) -> None:
    """Run the app like ``storefleet serve`` (minus the access log) until interrupted."""
    with contextlib.suppress(KeyboardInterrupt):  # re-raised by uvicorn after a clean stop
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=port,
            workers=1,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            **options,
        )


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until the server process answers ``/healthz``; fails if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("uvicorn exited during start-up")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("uvicorn did not become ready")


def stop_group(proc: subprocess.Popen[bytes] | None, timeout: float = 15) -> None:
    """Stop a server started in its own process group (Ctrl-C, then SIGKILL)."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
