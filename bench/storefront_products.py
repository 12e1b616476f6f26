"""Requests/s and latency of the storefront product list (20 items), per placement.

Each placement gets one store (``--stores-per-placement``) with ``--products`` active,
published products, each with a default variant, a USD price, stock at the ``main`` location
and an image, created through the admin API (``POST /api/stores/{id}/products``) of the
server under test. The app runs in a real uvicorn process (1 worker, access log off) and
``GET /api/storefront/products?limit=20`` is loaded by ``wrk`` (else an httpx generator)
with ``Host:`` routing.

The ceiling, interleaved run by run: the exact statements the route issued, captured from
SQLAlchemy's cursor (``before_cursor_execute``) while the route function ran once in this
process, replayed with their captured parameters in one transaction per "request" from a
bare async psycopg loop in another process, same concurrency, one connection per worker.

The helpers for the app process and the admin API are shared with ``bench.checkout``.

    .venv/bin/python -m bench.storefront_products [--products 40] [--connections 10]
        [--duration 5] [--rounds 2] [--loader auto|wrk|python]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.common import (
    PASSWORD,
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
)
from storefleet.control.hostnames.service import add_hostname
from storefleet.db.urls import libpq_conninfo, parse_url
from storefleet.testing import free_port, stop_group, wait_ready
from storefleet.testing import serve as serve_app

PLACEMENTS = ("pool", "schema", "database")
PAGE = 20
PATH = f"/api/storefront/products?limit={PAGE}"


# ---- the app process (shared with bench.checkout) -------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """The app under test, like ``storefleet serve`` (minus the access log)."""
    from storefleet.api.app import create_app

    control = parse_url(args.control_url)
    # Same concurrency as the ceiling: one tenant connection per load connection.
    settings = bench_settings(Path(args.home), control, tenant_pool_size=args.connections)
    serve_app(create_app(settings, control), args.port)


def child(module: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", module, *extra]


def start_app(env: Env, port: int, connections: int) -> subprocess.Popen[bytes]:
    """uvicorn in its own process group, so stopping it stops nothing else."""
    return subprocess.Popen(
        child(
            "bench.storefront_products",
            "--serve",
            "--control-url",
            env.control_url.render_as_string(hide_password=False),
            "--home",
            str(env.home),
            "--port",
            str(port),
            "--connections",
            str(connections),
        ),
        start_new_session=True,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_measured(cmd: list[str], timeout: float, app_pid: int) -> dict[str, Any]:
    """``run_child`` plus the CPU seconds the app process used meanwhile (``app_cpu_s``)."""
    before = cpu_seconds(app_pid)
    result = run_child(cmd, timeout)
    result["app_cpu_s"] = cpu_seconds(app_pid) - before
    return result


def check(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise RuntimeError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: "
            f"{response.text[:500]}"
        )
    return response.json() if response.content else None


async def admin_client(env: Env, url: str) -> httpx.AsyncClient:
    """An httpx client logged in as the bench's owner (the admin API of the app under test)."""
    client = httpx.AsyncClient(base_url=url, timeout=60)
    body = check(
        await client.post("/api/auth/login", json={"email": env.owner.email, "password": PASSWORD}),
        200,
    )
    client.headers["Authorization"] = f"Bearer {body['token']}"
    return client


async def add_host(env: Env, store_id: uuid.UUID, hostname: str) -> None:
    async with env.runtime.control_sessions() as s, s.begin():
        await add_hostname(s, store_id, hostname, settings=env.runtime.settings, primary=True)


async def create_products(
    admin: httpx.AsyncClient, store_id: uuid.UUID, count: int, *, stock: int, tag: str
) -> list[str]:
    """``count`` active, published products with one priced, stocked variant; variant ids."""
    variants = []
    for i in range(count):
        body = {
            "name": f"Bench product {i}",
            "status": "active",
            "published": True,
            "vendor": "Bench",
            "images": [{"url": f"https://cdn.example.com/{tag}/{i}.jpg", "alt": f"item {i}"}],
            "variants": [
                {
                    "title": "Default",
                    "sku": f"{tag}-{i}".upper(),
                    "weight_grams": 250,
                    "prices": [
                        {"currency": "USD", "amount": 1000 + 25 * i, "compare_at_amount": 5000}
                    ],
                    "stock": [{"location_code": "main", "on_hand": stock}],
                }
            ],
        }
        created = check(await admin.post(f"/api/stores/{store_id}/products", json=body), 201)
        variants.append(str(created["variants"][0]["id"]))
    return variants


# ---- children: load generator and ceiling -----------------------------------------------------


async def ceiling(args: argparse.Namespace) -> None:
    """The captured statements from bare psycopg: one connection per worker, same concurrency."""
    import psycopg

    targets: list[dict[str, Any]] = args.target_list
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
                statements = same_db[n % len(same_db)]["statements"]
                t0 = time.perf_counter()
                async with conn.transaction():
                    for query, params in statements:
                        cur = await conn.execute(query, params)
                        if cur.description is not None:
                            await cur.fetchall()
                lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(args.connections)))
    summarize_latencies(len(lat), time.perf_counter() - t0, lat, 0)


# ---- the parent -------------------------------------------------------------------------------


@contextmanager
def captured(skip_database: str) -> Iterator[list[tuple[str, Any]]]:
    """Every (statement, parameters) SQLAlchemy sends to a cursor, except to ``skip_database``."""
    seen: list[tuple[str, Any]] = []

    def listener(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if conn.engine.url.database != skip_database:
            seen.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", listener)


async def capture_route_sql(env: Env, store_id: uuid.UUID) -> list[tuple[str, Any]]:
    """The statements of one call of the route function (after a warm-up call)."""
    from storefleet.commerce.catalog.storefront import list_products

    where = await env.runtime.tenancy.placement(store_id, fresh=True)

    async def call() -> Any:
        async with env.runtime.tenancy.session(where, write=False) as s:
            return await list_products(
                placement=where, s=s, currency=None, country=None, limit=PAGE, offset=0
            )

    await call()  # server credentials, engine and connection: cached from now on
    assert env.control_url.database
    with captured(env.control_url.database) as seen:
        page = await call()
    if len(page.items) != PAGE or any(i.price.amount is None or not i.in_stock for i in page.items):
        raise RuntimeError(f"unexpected page: {page}")
    return list(seen)


def describe(statements: list[tuple[str, Any]]) -> str:
    """One entry per statement: the tables it reads (for the section)."""
    out = []
    for query, _ in statements:
        flat = " ".join(query.split())
        if "set_config" in flat:
            out.append("`set_config` x2")
            continue
        tables = re.findall(r"\b(?:FROM|JOIN) ([a-z_]+)", flat)
        out.append("SELECT " + " ⨝ ".join(f"`{t}`" for t in dict.fromkeys(tables)))
    return "; ".join(out)


async def setup(
    env: Env, url: str, per_placement: int, products: int
) -> tuple[dict[str, list[str]], dict[str, list[dict[str, Any]]]]:
    """Stores with hostnames and products; the ceiling's targets (captured SQL) per placement."""
    hosts: dict[str, list[str]] = {}
    targets: dict[str, list[dict[str, Any]]] = {}
    admin = await admin_client(env, url)
    try:
        for placement in PLACEMENTS:
            for i in range(per_placement):
                store_id = env.store_ids[placement][i]
                await create_products(admin, store_id, products, stock=100, tag=f"{placement}{i}")
                where = await env.runtime.tenancy.placement(store_id, fresh=True)
                app_url = await env.runtime.tenancy.app_url(where)
                targets.setdefault(placement, []).append(
                    {
                        "conninfo": libpq_conninfo(app_url),
                        "statements": await capture_route_sql(env, store_id),
                    }
                )
                host = f"products-{placement}-{i}.bench.example.com"
                async with httpx.AsyncClient(base_url=url, timeout=60) as shopper:
                    page = check(await shopper.get(PATH, headers={"Host": host}), 200)
                if len(page["items"]) != PAGE or not all(
                    it["in_stock"] and it["price"]["amount"] is not None for it in page["items"]
                ):
                    raise RuntimeError(f"unexpected routed page: {page}")
                hosts.setdefault(placement, []).append(host)
    finally:
        await admin.aclose()
    return hosts, targets


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
        "bench.storefront_products",
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
    workdir = Path(tempfile.mkdtemp(prefix="sf-bench-products-"))
    try:
        info = machine_info(server.url)
        async with bench_env(server) as env:
            for placement in PLACEMENTS:
                for i in range(args.stores_per_placement):
                    store_id = await env.ready_store(placement)
                    await add_host(env, store_id, f"products-{placement}-{i}.bench.example.com")
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proc = start_app(env, port, args.connections)
            await asyncio.to_thread(wait_ready, url, proc)
            t0 = time.perf_counter()
            hosts, targets = await setup(env, url, args.stores_per_placement, args.products)
            setup_s = time.perf_counter() - t0
            runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
            timeout = args.duration * 4 + 60
            # Warm-up (not counted): caches, engines and connections in the app.
            for placement in PLACEMENTS:
                warm = argparse.Namespace(**{**vars(args), "duration": 1})
                run_child(routed_cmd(warm, url, hosts[placement], workdir), timeout)
            for r in range(args.rounds):
                for i, placement in enumerate(PLACEMENTS):
                    tfile = workdir / f"{placement}.pickle"
                    tfile.write_bytes(pickle.dumps(targets[placement]))
                    subjects = [
                        ("routed", routed_cmd(args, url, hosts[placement], workdir)),
                        (
                            "ceiling",
                            child(
                                "bench.storefront_products",
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
                        result = await asyncio.to_thread(run_measured, cmd, timeout, proc.pid)
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
            pairs = zip(runs[(placement, "routed")], runs[(placement, "ceiling")], strict=True)
            per_round = [
                a["requests"] / a["duration_us"] / (b["requests"] / b["duration_us"])
                for a, b in pairs
            ]
            app_cpu = sum(x["app_cpu_s"] for x in runs[(placement, "routed")])
            routed_secs = sum(x["duration_us"] for x in runs[(placement, "routed")]) / 1e6
            rows.append(
                (
                    placement,
                    f"{routed['rps']:,.0f}",
                    f"{routed['p50']:.2f} / {routed['p99']:.2f}",
                    f"{ceil['rps']:,.0f}",
                    f"{ceil['p50']:.2f} / {ceil['p99']:.2f}",
                    f"**{routed['rps'] / ceil['rps']:.0%}** "
                    f"({', '.join(f'{x:.0%}' for x in per_round)})",
                    f"{app_cpu / routed['requests'] * 1000:.1f} ({app_cpu / routed_secs:.0%})",
                    f"{routed['errors']} of {routed['requests']:,}",
                )
            )
        headers = [
            "placement",
            "routed req/s",
            "routed p50 / p99 ms",
            "ceiling req/s",
            "ceiling p50 / p99 ms",
            "routed / ceiling (per round)",
            "app CPU ms per request (app CPU busy)",
            "routed errors",
        ]
        sample = targets[PLACEMENTS[0]][0]["statements"]
        body = (
            f"Measured: `GET {PATH}` with `Host: products-<placement>-<i>.bench.example.com` "
            f"({args.stores_per_placement} store(s) per placement, each with {args.products} "
            f"active published products: one default variant, a USD price with compare-at, "
            f"100 on hand at `main`, one image; created through the admin API in "
            f"{setup_s:.1f} s, not measured; every response checked once to hold {PAGE} "
            f"items, each priced and in stock), served by uvicorn (1 worker, access log off, "
            f"`create_app(settings, control_url)`, `tenant_pool_size` {args.connections}), "
            f"loaded by `{args.loader}` in a separate process with {args.connections} "
            f"keep-alive connections for {args.duration} s per run, {args.rounds} round(s), "
            f"after a 1 s warm-up per placement.\n\n"
            f"Ceiling = the statements the route issued, captured from SQLAlchemy's cursor while "
            f"the route function `catalog.storefront.list_products` ran once in the parent "
            f"process, replayed verbatim with the captured parameters from a bare async "
            f"psycopg loop in a separate process ({args.connections} workers, one connection "
            f"each, no server-side prepares like the app), alternating with the routed run: "
            f"per request BEGIN; {len(sample)} statements one after the other, every row "
            f"fetched; COMMIT. The statements ({PLACEMENTS[0]}): {describe(sample)}. The "
            f"ceiling includes the network round trips and the PostgreSQL work of those "
            f"statements only: no HTTP, no host resolution, no ORM compilation or row "
            f"processing, no price-rule arithmetic and no JSON encoding — the most this "
            f"sequence of round trips can serve on this machine (fewer round trips, e.g. "
            f"pipelining or merging statements, could go higher). "
            f"Requests/s are totals over all rounds; latencies are the median of the per-run "
            f"percentiles. App CPU = user + system time of the uvicorn process during the "
            f"routed runs (from `/proc`), per request served and as a share of one CPU: near "
            f"100% means the single worker, not PostgreSQL, set the rate. "
            f"Server, load generator and PostgreSQL share the same "
            f"{info['nproc']} CPUs.\n\n" + table(headers, rows) + "\n"
        )
        report("storefront_products", "Storefront: product list (20 items)", info, body)
    finally:
        stop_group(proc)
        shutil.rmtree(workdir, ignore_errors=True)
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--stores-per-placement", type=int, default=1)
    parser.add_argument("--products", type=int, default=40, help="products per store (>= 20)")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    # Child modes (used by the bench itself, and by bench.checkout for --serve).
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ceiling", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--control-url", help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--hosts", help=argparse.SUPPRESS)
    parser.add_argument("--targets", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
    elif args.load:
        asyncio.run(
            python_load(args.url, PATH, args.hosts.split(","), args.connections, args.duration)
        )
    elif args.ceiling:
        args.target_list = pickle.loads(Path(args.targets).read_bytes())
        asyncio.run(ceiling(args))
    else:
        if args.products < PAGE:
            parser.error(f"--products must be at least {PAGE}")
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
