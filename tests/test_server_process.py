"""The real ``storefleet serve`` process, over HTTP, with its embedded PostgreSQL.

Runs the README walkthrough against a server started with no database configuration, stops
it, starts it again on the same home, and logs in with the same account.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

PASSWORD = "Walkthr0ugh-Pass!"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(home: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREFLEET_")}
    env.update(
        STOREFLEET_HOME=str(home),
        STOREFLEET_ARGON2_MEMORY_COST="8192",
        STOREFLEET_ARGON2_TIME_COST="1",
        STOREFLEET_LOG_LEVEL="DEBUG",
    )
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "storefleet.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not become ready")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


@pytest.mark.slow
def test_walkthrough_then_restart_keeps_the_account(tmp_path: Path) -> None:
    home = tmp_path / "home"
    log_path = tmp_path / "server.log"
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(home, port, log_path)
    try:
        _wait_ready(base, proc)
        reg = httpx.post(
            base + "/api/auth/register",
            json={
                "email": "owner@example.com",
                "password": PASSWORD,
                "first_name": "W",
                "last_name": "K",
            },
        )
        assert reg.status_code == 201, reg.text
        login = httpx.post(
            base + "/api/auth/login", json={"email": "owner@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200
        token = login.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        me = httpx.get(base + "/api/auth/me", headers=auth)
        assert me.status_code == 200 and me.json()["email"] == "owner@example.com"
        assert httpx.post(base + "/api/auth/logout", headers=auth).status_code == 204
        assert httpx.get(base + "/api/auth/me", headers=auth).status_code == 401
        docs = httpx.get(base + "/docs")
        assert docs.status_code == 200
        assert httpx.get(base + "/openapi.json").json()["paths"]["/api/auth/login"]
    finally:
        _stop(proc)
    assert (home / "pgdata" / "PG_VERSION").exists()
    assert (home / "keys.json").exists()

    proc = _start(home, port, log_path)
    try:
        _wait_ready(base, proc)
        again = httpx.post(
            base + "/api/auth/login", json={"email": "owner@example.com", "password": PASSWORD}
        )
        assert again.status_code == 200, again.text
    finally:
        _stop(proc)

    output = log_path.read_text(errors="replace")
    assert "POST /api/auth/login" in output
    assert PASSWORD not in output
    assert token not in output
