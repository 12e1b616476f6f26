"""Credits and metering: ledger spends per second, and what usage metering costs a request.

1. **Spends/s** through ``credits.spend`` (the service the API route calls: one control
   transaction with ONE statement, ``credits.statements.SPEND``: the conditional balance
   UPDATE, the ledger INSERT and the outbox row as CTEs), with N concurrent asyncio tasks, on
   one store (every spend on the same hot balance row) and spread over 100 stores, against
   the same statement replayed from bare psycopg (target: service >= 0.5 of it). The
   three-statement spend it replaced is replayed too, for scale.
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
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.engine import URL

from bench.common import (
    RESULTS,
    Env,
    bench_env,
    command_line,
    machine_block,
    machine_info,
    percentile,
    start_server,
    table,
    write_section,
)
from storefleet.control.accounts.models import Account
from storefleet.control.accounts.service import issue_token
from storefleet.control.credits import service as credits
from storefleet.control.credits.statements import SPEND
from storefleet.db.urls import libpq_conninfo, parse_url
from storefleet.runtime import Runtime
from storefleet.testing import bench_settings, free_port, stop_group, wait_ready
from storefleet.testing import serve as serve_app

SERVICE = "bench.spend"
MODES = {
    "baseline": {"metering_enabled": False, "rate_limit_enabled": False},
    "metering": {"metering_enabled": True, "rate_limit_enabled": False},
    "metering+rate": {"metering_enabled": True, "rate_limit_enabled": True},
}
TARGET = 0.05
SPEND_TARGET = 0.5


# ---- part 1: spends per second ---------------------------------------------------------------


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


OLD_SPEND = (
    "UPDATE credit_balances SET balance = balance - 1, updated_at = now() "
    "WHERE store_id = %(s)s AND balance - 1 >= 0 RETURNING balance, account_id",
    "INSERT INTO credit_transactions (id, store_id, account_id, kind, amount, balance_after, "
    "idempotency_key, service_key, reference, actor) VALUES (%(id)s, %(s)s, %(a)s, 'spend', -1, "
    "%(b)s, %(k)s, 'bench.spend', '{}', 'bench') ON CONFLICT DO NOTHING RETURNING id",
    "INSERT INTO credit_outbox (transaction_id, store_id, attempts) VALUES (%(id)s, %(s)s, 0)",
)
# The service's statement, in psycopg's parameter style.
RAW_SPEND = str(SPEND.compile(dialect=postgresql_psycopg.dialect()))


async def raw_spends_per_second(
    control: URL, store_ids: list[uuid.UUID], concurrency: int, seconds: float, *, old: bool
) -> float:
    """The ceiling: the statement(s) one spend needs, from bare psycopg, one connection each
    and one transaction per spend. ``old``: the three statements spends used before."""
    done = 0
    stop = time.perf_counter() + seconds
    run = uuid.uuid4().hex[:8]

    async def worker(k: int) -> None:
        nonlocal done
        # Like the control-plane engine: no server-side prepared statements (poolers).
        async with await psycopg.AsyncConnection.connect(
            libpq_conninfo(control), prepare_threshold=None
        ) as conn:
            i = 0
            while time.perf_counter() < stop:
                store = store_ids[(k + i * concurrency) % len(store_ids)]
                key = f"raw-{run}-{k}-{i}"
                async with conn.transaction():
                    if old:
                        await old_spend(conn, store, key)
                    else:
                        params = {
                            "id": uuid.uuid4(),
                            "store": store,
                            "key": key,
                            "service": SERVICE,
                            "actor": "bench",
                        }
                        row = await (await conn.execute(RAW_SPEND, params)).fetchone()
                        assert row is not None and row[0] == "created", row
                done += 1
                i += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    return done / (time.perf_counter() - t0)


async def old_spend(conn: psycopg.AsyncConnection, store: uuid.UUID, key: str) -> None:
    row = await (await conn.execute(OLD_SPEND[0], {"s": store})).fetchone()
    assert row is not None
    params = {"id": uuid.uuid4(), "s": store, "a": row[1], "b": row[0], "k": key}
    await conn.execute(OLD_SPEND[1], params)
    await conn.execute(OLD_SPEND[2], params)


async def spend_bench(env: Env, args: argparse.Namespace) -> str:
    runtime, control = env.runtime, env.control_url
    async with runtime.control_sessions() as s, s.begin():
        await credits.set_cost(s, SERVICE, 1)
    stores = [await env.new_store("pool") for _ in range(args.stores)]
    for store_id in stores:
        await credits.grant(
            runtime.control_sessions, store_id, 10_000_000, idempotency_key="bench", actor="bench"
        )
    rows = []
    for concurrency in args.concurrency:
        for label, targets in (("1 store", stores[:1]), (f"{len(stores)} stores", stores)):
            seconds = args.spend_seconds
            old = await raw_spends_per_second(control, targets, concurrency, seconds, old=True)
            raw = await raw_spends_per_second(control, targets, concurrency, seconds, old=False)
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
                    f"**{rate / raw:.2f}**",
                    "ok" if rate / raw >= SPEND_TARGET else "below",
                    f"{old:,.0f}",
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
                "raw SQL spends/s (the same statement)",
                "service / raw",
                f"target >= {SPEND_TARGET}",
                "raw SQL spends/s (the old 3 statements)",
            ],
            rows,
        )
        + "\n\n`raw SQL (the same statement)` runs the statement a spend commits "
        "(`credits.statements.SPEND`: price lookup, conditional UPDATE of the balance, ledger "
        "INSERT and outbox INSERT as CTEs) from bare psycopg (one connection per task, no "
        "server-side prepared statements, like the control-plane engine) and one "
        "transaction per spend, right before the service run; `the old 3 statements` replays "
        "the conditional UPDATE, ledger INSERT and outbox INSERT that spends sent before "
        "(without their price and idempotency look-ups). "
        f"After the runs: {ledger_rows:,} ledger rows, `credits verify` mismatches: "
        f"{len(mismatches)}. Control-plane pool: 10 + 10 overflow connections."
    )
    return body


# ---- part 2: metering cost over HTTP ---------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    from storefleet.api.app import create_app

    control = parse_url(args.control_url)
    settings = bench_settings(
        Path(args.home), control, tenant_pool_size=args.connections, **MODES[args.mode]
    )
    serve_app(create_app(settings, control), args.port)


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


async def http_bench(env: Env, args: argparse.Namespace) -> str:
    runtime, owner, control, home = env.runtime, env.owner, env.control_url, env.home
    # A plan whose per-minute limit the load cannot reach: the limiter runs but never refuses.
    store_id = await env.ready_store("pool")
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
        for proc, _ in procs.values():
            await asyncio.to_thread(stop_group, proc, 20)
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


async def run(args: argparse.Namespace) -> None:
    server = start_server()
    info = machine_info(server.url)
    parts = []
    try:
        if not args.skip_spend:
            async with bench_env(server) as env:
                spend_body = await spend_bench(env, args)
            print(spend_body, flush=True)
            parts.append("### Spends per second (`credits.spend`)\n\n" + spend_body)
        if not args.skip_http:
            # Its own control plane: no pending stores or undelivered ledger rows for the
            # servers' background workers to chew on while they are measured.
            async with bench_env(server) as env:
                http_body = await http_bench(env, args)
            print(http_body, flush=True)
            parts.append("### Request throughput, metering on vs off\n\n" + http_body)
    finally:
        server.close()
    body = f"Command: `{command_line()}`\n\n{machine_block(info)}\n\n" + "\n\n".join(parts)
    write_section("credits", "Credits: spends per second, and the cost of usage metering", body)
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
