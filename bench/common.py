"""Shared harness for the benchmarks: a throwaway server, a migrated control plane, stores.

Each bench starts its own embedded PostgreSQL (or uses ``STOREFLEET_BENCH_DATABASE_URL``),
creates a fresh control database, builds a ``Runtime`` like ``storefleet serve`` does, and
drops everything it created at the end; the server, settings and store helpers come from
``storefleet.testing``, which the tests use too. Results go to ``bench/RESULTS.md``, one section per
bench, replaced on every run so the file always holds the latest numbers of each.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import URL

from storefleet import testing
from storefleet.config import Settings
from storefleet.control.accounts.models import Account
from storefleet.control.accounts.service import create_account
from storefleet.control.stores.service import create_store
from storefleet.db.migrate import upgrade_control
from storefleet.db.urls import libpq_conninfo, with_database
from storefleet.runtime import Runtime
from storefleet.testing import (
    Server,
    bench_settings,
    create_database,
    drop_fleet,
    lift_rate_limit,
    publish,
    started_runtime,
)

ENV_VAR = "STOREFLEET_BENCH_DATABASE_URL"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PASSWORD = "Bench-Passw0rd!x"
RESULTS_HEADER = """# Benchmark results

Written by the scripts in `bench/` (never by hand): each run replaces its own section.
Absolute times drift several-fold between runs on shared machines, so every number is
reported next to a baseline or limit measured in the same run, as a ratio.
"""


# ---- the server and the environment --------------------------------------------------------


def start_server() -> Server:
    """``STOREFLEET_BENCH_DATABASE_URL`` if set, else a fresh embedded server deleted after."""
    server = testing.start_server(ENV_VAR, prefix="sf-bench-")
    server.url = with_database(server.url, "postgres")
    return server


@dataclass
class Env:
    server: Server
    control_url: URL
    home: Path
    settings: Settings
    runtime: Runtime
    owner: Account
    counter: int = 0
    store_ids: dict[str, list[uuid.UUID]] = field(default_factory=dict)

    @property
    def server_url(self) -> URL:
        return self.server.url

    async def new_store(self, placement: str) -> uuid.UUID:
        """Register a store (``pending``) without provisioning it."""
        self.counter += 1
        slug = f"b{self.counter}-{uuid.uuid4().hex[:10]}"
        async with self.runtime.control_sessions() as s, s.begin():
            owner = await s.get(Account, self.owner.id)
            assert owner is not None
            store, _ = await create_store(
                s,
                self.runtime.provisioner,
                owner,
                name=f"Bench {self.counter}",
                slug=slug,
                placement=placement,
                max_stores=1_000_000,
            )
            store_id = store.id
        self.store_ids.setdefault(placement, []).append(store_id)
        return store_id

    async def provision(self, store_id: uuid.UUID) -> float:
        """Seconds ``Provisioner.provision`` took for one store."""
        t0 = time.perf_counter()
        row = await self.runtime.provisioner.provision(store_id)
        elapsed = time.perf_counter() - t0
        if row.status != "ready":
            raise RuntimeError(f"store {store_id} is {row.status}: {row.last_error}")
        return elapsed

    async def ready_store(self, placement: str) -> uuid.UUID:
        """A provisioned store on the bench plan (its rate limiter runs, never refuses)."""
        store_id = await self.new_store(placement)
        await self.provision(store_id)
        await lift_rate_limit(self.runtime, store_id)
        await publish(self.runtime, store_id)
        return store_id


@asynccontextmanager
async def bench_env(server: Server, **setting_overrides: object) -> AsyncIterator[Env]:
    """A migrated control database, a started Runtime and one owner account; dropped after."""
    control = create_database(server.url, f"sf_bench_{uuid.uuid4().hex[:10]}")
    home = Path(tempfile.mkdtemp(prefix="sf-bench-home-"))
    try:
        await asyncio.to_thread(upgrade_control, control)
        settings = bench_settings(home, control, **setting_overrides)
        async with started_runtime(settings, control) as runtime:
            async with runtime.control_sessions() as s, s.begin():
                owner = await create_account(
                    s,
                    email=f"owner-{uuid.uuid4().hex[:8]}@example.com",
                    password=PASSWORD,
                    first_name="Bench",
                    last_name="Owner",
                )
            yield Env(server, control, home, settings, runtime, owner)
    finally:
        drop_fleet(server.url, control)
        shutil.rmtree(home, ignore_errors=True)


# ---- numbers --------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (no interpolation: p95 of 50 samples is the 48th)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def ratio(subject: float, baseline: float) -> str:
    return f"{subject / baseline:.2f}x" if baseline > 0 else "n/a"


def verdict(met: bool, errors: int) -> str:
    """A target verdict that a run with failed requests cannot pass."""
    if errors:
        return f"INVALID ({errors:,} failed requests)"
    return "met" if met else "MISSED"


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ---- machine and results --------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(server: URL) -> dict[str, str]:
    with psycopg.connect(libpq_conninfo(with_database(server, "postgres"))) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        version = row[0] if row else "?"
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('max_connections', 'shared_buffers', 'fsync', 'synchronous_commit')"
            ).fetchall()
        )
    load = os.getloadavg()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu_model(),
        "postgresql": f"{version} ({'external' if os.environ.get(ENV_VAR) else 'embedded'}; "
        + ", ".join(f"{k}={v}" for k, v in sorted(settings.items()))
        + ")",
        "python": platform.python_version(),
        "load average at start": " ".join(f"{x:.2f}" for x in load),
    }


def command_line() -> str:
    module = Path(sys.argv[0]).stem
    args = " ".join(shlex.quote(a) for a in sys.argv[1:])
    return f".venv/bin/python -m bench.{module} {args}".strip()


def machine_block(info: dict[str, str], *, load_after: bool = True) -> str:
    lines = [f"- {k}: {v}" for k, v in info.items()]
    if load_after:
        lines.append("- load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    lines.append(
        "- noise: the machine is shared (other test suites may be running); a load average "
        f"above {len(os.sched_getaffinity(0))} means the bench competed for CPU"
    )
    return "\n".join(lines)


def write_section(key: str, title: str, body: str) -> None:
    """Replace (or append) this bench's section in RESULTS.md."""
    start, end = f"<!-- bench:{key} -->", f"<!-- /bench:{key} -->"
    section = f"{start}\n## {title}\n\n{body.strip()}\n{end}\n"
    text = RESULTS.read_text() if RESULTS.exists() else RESULTS_HEADER
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + section + after.lstrip("\n")
        if after.strip():
            text = before + section + "\n" + after.lstrip("\n")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def report(key: str, title: str, info: dict[str, str], body: str) -> None:
    """Print the section and store it in RESULTS.md."""
    full = (
        f"Command: `{command_line()}`\n\n{machine_block(info)}\n\n{body.strip()}\n"
        if info
        else body
    )
    print(f"\n## {title}\n\n{full}")
    write_section(key, title, full)


def parse_result(output: str) -> dict[str, Any]:
    """The ``RESULT {...}`` line a load child (wrk script, python loader, ceiling) printed."""
    for line in output.splitlines():
        if line.startswith("RESULT "):
            return dict(json.loads(line[len("RESULT ") :]))
    raise RuntimeError(f"no result in load generator output:\n{output}")


def run_child(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run a load child to completion and return its result line."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed:\n{done.stdout}\n{done.stderr}")
    return parse_result(done.stdout)


def summarize_latencies(count: int, elapsed: float, lat: list[float], errors: int) -> None:
    """A load child's result line, in the same fields wrk's Lua summary prints."""
    print(
        "RESULT "
        + json.dumps(
            {
                "requests": count,
                "duration_us": int(elapsed * 1e6),
                "p50_us": int(percentile(lat, 50) * 1e6) if lat else 0,
                "p99_us": int(percentile(lat, 99) * 1e6) if lat else 0,
                "non2xx": errors,
                "socket_errors": 0,
            }
        ),
        flush=True,
    )


async def python_load(
    url: str, path: str, hosts: list[str], connections: int, duration: float
) -> None:
    """Fallback load generator: N keep-alive httpx connections for ``duration`` seconds."""
    import asyncio
    import time

    import httpx

    lat: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def worker(k: int) -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, limits=limits) as client:
            n = k
            while time.perf_counter() < deadline:
                n += 1
                t0 = time.perf_counter()
                r = await client.get(path, headers={"Host": hosts[n % len(hosts)]})
                lat.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    errors += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    summarize_latencies(len(lat), time.perf_counter() - t0, lat, errors)


# A wrk script that spreads requests over store hostnames and prints one RESULT line.
WRK_SCRIPT = """
local hosts = {%(hosts)s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", "%(path)s", {["Host"] = hosts[(n %% #hosts) + 1]})
end
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, '
    .. '"non2xx": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""
