"""Requests/s and latency of ``GET /api/storefront/store`` routed by ``Host``, per placement.

The app runs in a real uvicorn process (1 worker, access log off, uvloop/httptools when
installed), load comes from a separate process with a fixed number of keep-alive
connections (``wrk`` when installed, else an httpx/asyncio generator). The ceiling, measured
in the same run and interleaved run by run: the SQL the route issues (BEGIN; the
``set_config`` pair; the select of the public profile columns; COMMIT) from a bare async
psycopg loop in another process, same concurrency, one connection per worker.

    .venv/bin/python -m bench.routing [--stores-per-placement 5] [--connections 10]
        [--duration 5] [--rounds 2] [--loader auto|wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from bench.common import (
    WRK_SCRIPT,
    Env,
    bench_env,
    bench_settings,
    machine_info,
    median,
    python_load,
    report,
    run_child,
    start_server,
    summarize_latencies,
    table,
    verdict,
)
from storefleet.commerce.store.models import StoreProfile
from storefleet.commerce.store.service import PUBLIC_COLUMNS
from storefleet.control.hostnames.service import add_hostname
from storefleet.db.urls import libpq_conninfo, parse_url
from storefleet.tenancy.ddl import checked_schema
from storefleet.testing import free_port, stop_group, wait_ready
from storefleet.testing import serve as serve_app

PLACEMENTS = ("pool", "schema", "database")
PATH = "/api/storefront/store"
TARGET = 0.5


# ---- child processes ------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """The app under test, like ``storefleet serve`` (minus the access log)."""
    from storefleet.api.app import create_app

    control = parse_url(args.control_url)
    # Same concurrency as the ceiling: one tenant connection per load connection.
    settings = bench_settings(Path(args.home), control, tenant_pool_size=args.connections)
    profiler = cProfile.Profile() if args.profile_out else None
    if profiler is not None:
        profiler.enable()
    try:
        serve_app(
            create_app(settings, control),
            args.port,
            http="httptools",
            loop="uvloop",
            server_header=False,
        )
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile_out)


async def ceiling(args: argparse.Namespace) -> None:
    """The route's SQL from bare psycopg: one connection per worker, same concurrency."""
    import psycopg

    targets: list[dict[str, str]] = args.target_list
    query = str(
        select(*PUBLIC_COLUMNS)
        .where(StoreProfile.store_id == uuid.UUID(int=0), StoreProfile.deleted_at.is_(None))
        .compile(dialect=postgresql.psycopg.dialect())  # type: ignore[attr-defined]
    )
    query = query.replace("%(store_id_1)s", "%(store_id)s")
    print("QUERY", " ".join(query.split()), file=sys.stderr)
    enter = (
        "SELECT set_config('search_path', %(schema)s, true), "
        "set_config('storefleet.store_id', %(store_id)s, true)"
    )
    lat: list[float] = []
    deadline = time.perf_counter() + args.duration

    async def worker(k: int) -> None:
        # One connection per worker, to the database of the first store it serves; then it
        # rotates over the stores living in that database, like the routed run rotates hosts.
        mine = targets[k % len(targets)]
        same_db = [t for t in targets if t["conninfo"] == mine["conninfo"]]
        async with await psycopg.AsyncConnection.connect(
            mine["conninfo"], prepare_threshold=None
        ) as conn:
            n = k
            while time.perf_counter() < deadline:
                n += 1
                t = same_db[n % len(same_db)]
                params = {"schema": checked_schema(t["schema"]), "store_id": t["store_id"]}
                t0 = time.perf_counter()
                async with conn.transaction():
                    await conn.execute(enter, params)
                    cur = await conn.execute(query, params)
                    await cur.fetchone()
                lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(args.connections)))
    summarize_latencies(len(lat), time.perf_counter() - t0, lat, 0)


# ---- the parent -----------------------------------------------------------------------------


def child(*extra: str) -> list[str]:
    return [sys.executable, "-m", "bench.routing", *extra]


async def setup(env: Env, per_placement: int) -> tuple[dict[str, list[str]], dict[str, list]]:
    """Stores with hostnames; the ceiling's connection targets per placement."""
    hosts: dict[str, list[str]] = {}
    targets: dict[str, list[dict[str, str]]] = {}
    for placement in PLACEMENTS:
        for i in range(per_placement):
            store_id = await env.ready_store(placement)
            hostname = f"{placement}-{i}.bench.example.com"
            async with env.runtime.control_sessions() as s, s.begin():
                await add_hostname(
                    s, store_id, hostname, settings=env.runtime.settings, primary=True
                )
            where = await env.runtime.tenancy.placement(store_id, fresh=True)
            app_url = await env.runtime.tenancy.app_url(where)
            hosts.setdefault(placement, []).append(hostname)
            targets.setdefault(placement, []).append(
                {
                    "conninfo": libpq_conninfo(app_url),
                    "schema": where.schema,
                    "store_id": str(store_id),
                }
            )
    return hosts, targets


def start_app(
    env: Env, port: int, profile_out: Path | None, connections: int
) -> subprocess.Popen[bytes]:
    """uvicorn in its own process group, so stopping it stops nothing else."""
    extra = ["--profile-out", str(profile_out)] if profile_out else []
    return subprocess.Popen(
        child(
            "--serve",
            "--control-url",
            env.control_url.render_as_string(hide_password=False),
            "--home",
            str(env.home),
            "--port",
            str(port),
            "--connections",
            str(connections),
            *extra,
        ),
        start_new_session=True,
    )


PACKAGES = (
    "sqlalchemy",
    "psycopg",
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "httptools",
    "anyio",
    "storefleet",
    "asyncio",
)


def profile_breakdown(path: Path) -> str:
    """Server CPU by package (tottime), and the hottest functions, from cProfile."""
    stats = pstats.Stats(str(path))
    by_package: dict[str, float] = {}
    for (filename, _, name), (_, _, tt, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "poll" in name or "run_forever" in name or name == "lifespan":
            key = "event loop (incl. idle wait)"
        else:
            key = next((p for p in PACKAGES if f"/{p}/" in filename), "other (builtins, json, ...)")
        by_package[key] = by_package.get(key, 0.0) + tt
    idle = "event loop (incl. idle wait)"
    busy = sum(v for k, v in by_package.items() if k != idle)
    rows = [
        (k, f"{v:.2f}", "-" if k == idle else f"{v / busy:.0%}")
        for k, v in sorted(by_package.items(), key=lambda kv: (kv[0] == idle, -kv[1]))
    ]
    buf = io.StringIO()
    pstats.Stats(str(path), stream=buf).sort_stats("tottime").print_stats(20)
    hot = "\n".join(
        ln.rstrip()
        for ln in buf.getvalue().splitlines()
        if ln.strip() and not ln.strip().startswith(("Ordered by", "List reduced"))
    )
    return (
        table(["server time by package (cProfile tottime)", "s", "share of busy time"], rows)
        + "\n\n<details><summary>hottest functions (tottime)</summary>\n\n```\n"
        + hot
        + "\n```\n</details>\n"
    )


def routed_cmd(args: argparse.Namespace, url: str, hosts: list[str], script_dir: Path) -> list:
    if args.loader == "wrk":
        script = script_dir / "hosts.lua"
        script.write_text(WRK_SCRIPT % {"hosts": ", ".join(f'"{h}"' for h in hosts), "path": PATH})
        return [
            "wrk",
            "-t",
            "1",
            "-c",
            str(args.connections),
            "-d",
            f"{args.duration}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ]
    return child(
        "--load",
        "--url",
        url,
        "--hosts",
        ",".join(hosts),
        "--connections",
        str(args.connections),
        "--duration",
        str(args.duration),
    )


async def run(args: argparse.Namespace) -> None:
    if args.loader == "auto":
        args.loader = "wrk" if shutil.which("wrk") else "python"
    server = start_server()
    proc: subprocess.Popen[bytes] | None = None
    workdir = Path(tempfile.mkdtemp(prefix="sf-bench-routing-"))
    try:
        info = machine_info(server.url)
        async with bench_env(server) as env:
            hosts, targets = await setup(env, args.stores_per_placement)
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            profile_out = workdir / "server.prof" if args.profile_app else None
            proc = start_app(env, port, profile_out, args.connections)
            await asyncio.to_thread(wait_ready, url, proc)
            runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
            timeout = args.duration * 4 + 60
            # Warm-up (not counted): caches, engines and connections in the app.
            for placement in PLACEMENTS:
                warm = argparse.Namespace(**{**vars(args), "duration": 1})
                run_child(routed_cmd(warm, url, hosts[placement], workdir), timeout)
            for r in range(args.rounds):
                for i, placement in enumerate(PLACEMENTS):
                    tfile = workdir / f"{placement}.json"
                    tfile.write_text(json.dumps(targets[placement]))
                    subjects = [
                        ("routed", routed_cmd(args, url, hosts[placement], workdir)),
                        (
                            "ceiling",
                            child(
                                "--ceiling",
                                "--targets",
                                str(tfile),
                                "--connections",
                                str(args.connections),
                                "--duration",
                                str(args.duration),
                            ),
                        ),
                    ]
                    if (r + i) % 2:
                        subjects.reverse()
                    for name, cmd in subjects:
                        result = await asyncio.to_thread(run_child, cmd, timeout)
                        runs.setdefault((placement, name), []).append(result)
                        print(placement, name, result, flush=True)
            stop_group(proc)
        rows = []
        for placement in PLACEMENTS:
            stats = {}
            for name in ("routed", "ceiling"):
                results = runs[(placement, name)]
                reqs = sum(x["requests"] for x in results)
                secs = sum(x["duration_us"] for x in results) / 1e6
                stats[name] = {
                    "rps": reqs / secs,
                    "p50": median(x["p50_us"] for x in results) / 1000,
                    "p99": median(x["p99_us"] for x in results) / 1000,
                    "errors": sum(x["non2xx"] + x["socket_errors"] for x in results),
                    "requests": reqs,
                }
            routed, ceil = stats["routed"], stats["ceiling"]
            share = routed["rps"] / ceil["rps"]
            pairs = zip(runs[(placement, "routed")], runs[(placement, "ceiling")], strict=True)
            per_round = [
                a["requests"] / a["duration_us"] / (b["requests"] / b["duration_us"])
                for a, b in pairs
            ]
            rows.append(
                (
                    placement,
                    f"{routed['rps']:,.0f}",
                    f"{routed['p50']:.2f} / {routed['p99']:.2f}",
                    f"{ceil['rps']:,.0f}",
                    f"{ceil['p50']:.2f} / {ceil['p99']:.2f}",
                    f"**{share:.0%}** ({', '.join(f'{x:.0%}' for x in per_round)})",
                    "n/a (profiled)"
                    if args.profile_app
                    else verdict(share >= TARGET, routed["errors"]),
                    f"{routed['errors']} of {routed['requests']:,}",
                )
            )
        headers = [
            "placement",
            "routed req/s",
            "routed p50 / p99 ms",
            "ceiling q/s",
            "ceiling p50 / p99 ms",
            "routed / ceiling (per round)",
            f"target ≥ {TARGET:.0%}",
            "routed errors",
        ]
        body = (
            f"Measured: `GET {PATH}` with `Host: <placement>-<i>.bench.example.com` rotating "
            f"over {args.stores_per_placement} stores per placement, served by uvicorn "
            f"(1 worker, access log off, app from `create_app(settings, control_url)`, "
            f"`tenant_pool_size` {args.connections} so the app may hold as many tenant "
            f"connections per database as the ceiling has), loaded by `{args.loader}` in a "
            f"separate process "
            f"with {args.connections} keep-alive connections for {args.duration} s per run, "
            f"{args.rounds} round(s); ceiling = the route's SQL (BEGIN; set_config x2; select "
            f"of the public profile columns; COMMIT, one statement after the other, as the "
            f"issue defines it) from a bare async psycopg loop in a "
            f"separate process, {args.connections} workers with one connection each, "
            f"alternating with the routed run. Requests/s are totals over all rounds; "
            f"latencies are the median of the per-run percentiles. Server, load generator "
            f"and PostgreSQL share the same {info['nproc']} CPUs.\n\n" + table(headers, rows) + "\n"
        )
        if args.profile_app:
            assert profile_out is not None
            body = (
                "**Profiled run** (the app ran under cProfile, which slows it: use the "
                "breakdown, not the rates).\n\n" + body + "\n" + profile_breakdown(profile_out)
            )
            report("routing_profile", "Routing: where the app's time goes", info, body)
            return
        report("routing", "Routing: storefront requests by Host", info, body)
    finally:
        stop_group(proc)
        shutil.rmtree(workdir, ignore_errors=True)
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores-per-placement", type=int, default=5)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--profile-app", action="store_true", help="run the app under cProfile (own section)"
    )
    # Child modes (used by the bench itself).
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ceiling", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--control-url", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--hosts", help=argparse.SUPPRESS)
    parser.add_argument("--targets", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
    elif args.load:
        asyncio.run(
            python_load(args.url, PATH, args.hosts.split(","), args.connections, args.duration)
        )
    elif args.ceiling:
        args.target_list = json.loads(Path(args.targets).read_text())
        asyncio.run(ceiling(args))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
