"""The real ``storefleet serve`` process, over HTTP, with its embedded PostgreSQL.

Runs the README walkthrough against a server started with no database configuration, stops
it, starts it again on the same home, and logs in with the same account.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from storefleet.testing import free_port

PASSWORD = "Walkthr0ugh-Pass!"


def _start(
    home: Path, port: int, log_path: Path, *args: str, **env_vars: str
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STOREFLEET_")}
    env.update(
        STOREFLEET_HOME=str(home),
        STOREFLEET_ARGON2_MEMORY_COST="8192",
        STOREFLEET_ARGON2_TIME_COST="1",
        STOREFLEET_LOG_LEVEL="DEBUG",
        **env_vars,
    )
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "storefleet.cli.main", "serve", "--port", str(port), *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _wait_ready(
    base: str, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise AssertionError(f"server exited with {proc.returncode}; its log ends:\n{tail}")
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("server did not become ready")


def _postmaster(home: Path) -> int | None:
    """The embedded PostgreSQL's pid while it runs (from its pid file), else None."""
    pid_file = home / "pgdata" / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by the server's own OS user
    return pid


def _stop(proc: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGINT) -> int:
    """Stop the server as a user (Ctrl-C) or a service manager (SIGTERM) does."""
    proc.send_signal(sig)
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        raise AssertionError(f"the server ignored {sig.name}") from None


def _wait_gone(home: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _postmaster(home) is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _postmaster(home) is None, "the embedded PostgreSQL outlived its server"


@pytest.mark.slow
def test_walkthrough_then_restart_keeps_the_account(tmp_path: Path) -> None:
    home = tmp_path / "home"
    log_path = tmp_path / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(home, port, log_path)
    try:
        _wait_ready(base, proc, log_path)
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
        first_postmaster = _postmaster(home)
        assert first_postmaster is not None
    finally:
        code = _stop(proc, signal.SIGINT)
    assert code in (0, 1, -signal.SIGINT, 128 + signal.SIGINT), code
    _wait_gone(home)  # Ctrl-C stops PostgreSQL too
    assert (home / "pgdata" / "PG_VERSION").exists()
    assert (home / "keys.json").exists()

    proc = _start(home, port, log_path)
    try:
        _wait_ready(base, proc, log_path)
        again = httpx.post(
            base + "/api/auth/login", json={"email": "owner@example.com", "password": PASSWORD}
        )
        assert again.status_code == 200, again.text
        second_postmaster = _postmaster(home)
        assert second_postmaster is not None and second_postmaster != first_postmaster
    finally:
        code = _stop(proc, signal.SIGTERM)
    assert code == 0, code  # a service manager's stop is a clean exit
    _wait_gone(home)

    output = log_path.read_text(errors="replace")
    assert "POST /api/auth/login" in output
    assert PASSWORD not in output
    assert token not in output
    shutil.rmtree(home)  # the server's data folder does not outlive the test


def _throttled_elsewhere(base: str, run: int) -> tuple[list[int], int, int]:
    """A new account, five failures claiming to come from 192.0.2.<run>, then the right
    password "from" another address and from the failing one: the statuses. (Each run has
    its own account and address: the throttle's counts outlive a restart, in the control
    plane.)"""
    email = f"proxy{run}@example.com"
    body = {"email": email, "password": PASSWORD, "first_name": "P", "last_name": "X"}
    assert httpx.post(base + "/api/auth/register", json=body).status_code == 201
    failing = f"192.0.2.{run}"
    failures = [
        httpx.post(
            base + "/api/auth/login",
            json={"email": email, "password": "Wrong-Passw0rd!"},
            headers={"X-Forwarded-For": failing},
        ).status_code
        for _ in range(5)
    ]
    right = {"email": email, "password": PASSWORD}
    elsewhere = httpx.post(
        base + "/api/auth/login", json=right, headers={"X-Forwarded-For": "198.51.100.2"}
    )
    same = httpx.post(base + "/api/auth/login", json=right, headers={"X-Forwarded-For": failing})
    return failures, elsewhere.status_code, same.status_code


@pytest.mark.slow
def test_forwarded_for_counts_only_from_a_configured_proxy(tmp_path: Path) -> None:
    """By default a forged X-Forwarded-For does not move the client the login throttle
    sees; with --proxy-headers (this test's loopback peer is the proxy) it does."""
    home = tmp_path / "home"
    log_path = tmp_path / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(home, port, log_path)
    try:
        _wait_ready(base, proc, log_path)
        assert _throttled_elsewhere(base, 1) == ([401] * 5, 429, 429)
    finally:
        _stop(proc)
    proc = _start(home, port, log_path, "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1")
    try:
        _wait_ready(base, proc, log_path)
        assert _throttled_elsewhere(base, 2) == ([401] * 5, 200, 429)
    finally:
        _stop(proc)
    # The settings do the same as the flags.
    proc = _start(
        home,
        port,
        log_path,
        STOREFLEET_PROXY_HEADERS="true",
        STOREFLEET_FORWARDED_ALLOW_IPS="127.0.0.0/8",
    )
    try:
        _wait_ready(base, proc, log_path)
        assert _throttled_elsewhere(base, 3) == ([401] * 5, 200, 429)
    finally:
        _stop(proc)
