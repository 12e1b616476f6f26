"""The storefront product list with the storefront cache on against the same route with it off.

Two app processes on the same control database and stores (uvicorn, 1 worker each, started
like ``bench.storefront_products`` does): one with ``storefront_cache_enabled`` (the
default; ``--storefront-cache``), one with it off — today's uncached route.
Each placement gets ``--stores-per-placement`` stores with ``--products`` products (created
through the admin API, as ``bench.storefront_products`` does), and ``GET
/api/storefront/products?limit=20`` is loaded by ``wrk`` (else an httpx generator) with
``Host`` rotating over the placement's stores; the two subjects alternate run by run. Both
apps' answers are checked once to be the same bytes. The cached app still runs the rate
limit and metering on every request (the cache sits inside them).

    .venv/bin/python -m bench.storefront_cache [--stores-per-placement 5] [--products 20]
        [--connections 8] [--duration 3] [--rounds 2] [--loader auto|wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    bench_env,
    machine_info,
    median,
    report,
    run_child,
    start_server,
    table,
)
from bench.storefront_products import (
    PATH,
    add_host,
    admin_client,
    create_products,
    routed_cmd,
    run_measured,
    start_app,
)
from storefleet.testing import free_port, stop_group, wait_ready

PLACEMENTS = ("pool", "schema")
SUBJECTS = ("uncached", "cached")


async def same_answers(urls: dict[str, str], hosts: list[str]) -> None:
    """Every host's page is the same bytes from both apps (twice: the second one is cached)."""
    async with httpx.AsyncClient(timeout=60) as client:
        for host in hosts:
            bodies = set()
            for _ in range(2):
                for url in urls.values():
                    answer = await client.get(url + PATH, headers={"Host": host})
                    if answer.status_code != 200:
                        raise RuntimeError(f"{url} {host}: {answer.status_code} {answer.text}")
                    bodies.add(answer.content)
            if len(bodies) != 1:
                raise RuntimeError(f"{host}: the cached answer differs from the uncached one")


async def run(args: argparse.Namespace) -> None:
    if args.loader == "auto":
        args.loader = "wrk" if shutil.which("wrk") else "python"
    server = start_server()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="sf-bench-cache-"))
    try:
        info = machine_info(server.url)
        async with bench_env(server) as env:
            hosts: dict[str, list[str]] = {}
            for placement in PLACEMENTS:
                for i in range(args.stores_per_placement):
                    store_id = await env.ready_store(placement)
                    host = f"cache-{placement}-{i}.bench.example.com"
                    await add_host(env, store_id, host)
                    hosts.setdefault(placement, []).append(host)
            urls = {}
            for subject in SUBJECTS:
                port = free_port()
                urls[subject] = f"http://127.0.0.1:{port}"
                cache = ("--storefront-cache",) if subject == "cached" else ()
                procs[subject] = start_app(env, port, args.connections, extra=cache)
            for subject, url in urls.items():
                await asyncio.to_thread(wait_ready, url, procs[subject])
            t0 = time.perf_counter()
            admin = await admin_client(env, urls["uncached"])
            try:
                for placement in PLACEMENTS:
                    for i, store_id in enumerate(env.store_ids[placement]):
                        tag = f"c{placement}{i}"
                        await create_products(admin, store_id, args.products, stock=100, tag=tag)
            finally:
                await admin.aclose()
            setup_s = time.perf_counter() - t0
            for placement in PLACEMENTS:
                await same_answers(urls, hosts[placement])
            timeout = args.duration * 4 + 60
            runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for placement in PLACEMENTS:  # warm-up, not counted
                warm = argparse.Namespace(**{**vars(args), "duration": 1})
                for url in urls.values():
                    run_child(routed_cmd(warm, url, hosts[placement], workdir), timeout)
            for r in range(args.rounds):
                for i, placement in enumerate(PLACEMENTS):
                    order = list(SUBJECTS) if (r + i) % 2 == 0 else list(reversed(SUBJECTS))
                    for subject in order:
                        cmd = routed_cmd(args, urls[subject], hosts[placement], workdir)
                        result = await asyncio.to_thread(
                            run_measured, cmd, timeout, procs[subject].pid
                        )
                        runs.setdefault((placement, subject), []).append(result)
                        print(placement, subject, result, flush=True)
            for proc in procs.values():
                stop_group(proc)
        rows = []
        for placement in PLACEMENTS:
            stats = {}
            for subject in SUBJECTS:
                results = runs[(placement, subject)]
                reqs = sum(x["requests"] for x in results)
                secs = sum(x["duration_us"] for x in results) / 1e6
                stats[subject] = {
                    "rps": reqs / secs,
                    "p50": median(x["p50_us"] for x in results) / 1000,
                    "p99": median(x["p99_us"] for x in results) / 1000,
                    "errors": sum(x["non2xx"] + x["socket_errors"] for x in results),
                    "requests": reqs,
                    "cpu_ms": sum(x["app_cpu_s"] for x in results) / reqs * 1000,
                }
            off, on = stats["uncached"], stats["cached"]
            per_round = [
                (a["requests"] / a["duration_us"]) / (b["requests"] / b["duration_us"])
                for a, b in zip(
                    runs[(placement, "cached")], runs[(placement, "uncached")], strict=True
                )
            ]
            ratio = on["rps"] / off["rps"]
            rows.append(
                (
                    placement,
                    f"{off['rps']:,.0f}",
                    f"{off['p50']:.2f} / {off['p99']:.2f}",
                    f"{on['rps']:,.0f}",
                    f"{on['p50']:.2f} / {on['p99']:.2f}",
                    f"**{ratio:.1f}x** ({', '.join(f'{x:.1f}x' for x in per_round)})",
                    "met" if ratio >= 5 else "NOT met",
                    f"{off['cpu_ms']:.2f} / {on['cpu_ms']:.2f}",
                    f"{off['errors']} / {on['errors']}",
                )
            )
        headers = [
            "placement",
            "uncached req/s",
            "uncached p50 / p99 ms",
            "cached req/s",
            "cached p50 / p99 ms",
            "cached / uncached (per round)",
            "target >= 5x",
            "app CPU ms per request (uncached / cached)",
            "errors (uncached / cached)",
        ]
        body = (
            f"Measured: `GET {PATH}` with `Host` rotating over {args.stores_per_placement} "
            f"store(s) per placement (each with {args.products} active published products, "
            f"one priced, stocked variant and an image each; created through the admin API in "
            f"{setup_s:.1f} s, not measured). Two uvicorn processes (1 worker each, access log "
            f"off, `tenant_pool_size` {args.connections}) on the same stores: *cached* with "
            f"`storefront_cache_enabled` (the default; rate limit and metering still run on "
            f"every request), *uncached* with it off (the route as it is today). Both answers "
            f"were checked to be the same bytes for every host. Loaded by `{args.loader}` with "
            f"{args.connections} keep-alive connections, {args.duration} s per run, "
            f"{args.rounds} round(s), the subjects alternating, after a 1 s warm-up each. "
            f"Requests/s are totals over all rounds; latencies are the median of the per-run "
            f"percentiles; app CPU from `/proc` of the serving process. Server, load generator "
            f"and PostgreSQL share the same {info['nproc']} CPUs.\n\n" + table(headers, rows) + "\n"
        )
        report("storefront_cache", "Storefront: product list, cache on vs off", info, body)
    finally:
        for proc in procs.values():
            stop_group(proc)
        shutil.rmtree(workdir, ignore_errors=True)
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--stores-per-placement", type=int, default=5)
    parser.add_argument("--products", type=int, default=20, help="products per store (>= 20)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=int, default=3, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args()
    if args.products < 20:
        parser.error("--products must be at least 20")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
