"""Requests/s and latency of the storefront product list (20 items) against two ceilings.

Each placement (``pool`` and ``schema`` by default) gets ``--stores-per-placement`` stores
(50) with ``--products`` active, published products, each with a default variant, a USD
price, stock at the ``main`` location and an image, created through the admin API
(``POST /api/stores/{id}/products``) of the server under test. The app runs in a real
uvicorn process (1 worker, access log off) and ``GET /api/storefront/products?limit=20`` is
loaded by ``wrk`` (``bench.load``; else an httpx generator) with ``Host:`` rotating over
the placement's stores.

Interleaved with the routed run, round by round, from a bare async psycopg loop in another
process (same concurrency, one connection per worker, rotating over the same stores):

* ``replay``: the seven statements of the route before issue 12 (the ORM read, kept in
  ``tests.commerce.catalog.storefront_legacy``), captured from SQLAlchemy's cursor while it
  ran once per store, replayed with their parameters in one transaction per "request";
* ``ceiling``: the route's own single statement as ``Tenancy.read`` sends it (``BEGIN READ
  ONLY; set_config …; the statement; COMMIT`` as one simple-protocol string, values bound),
  every row fetched: what the route could serve if HTTP, routing and JSON cost nothing.

Targets (issue 12): routed ≥ 1.5x replay, routed ≥ 60% of ceiling, routed p99 ≤ 3x p50.

The helpers for the app process and the admin API are shared with ``bench.checkout``.

    .venv/bin/python -m bench.storefront_products [--stores-per-placement 50]
        [--products 20] [--connections 8] [--duration 5] [--rounds 2]
        [--placements pool,schema] [--loader auto|wrk|python]
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
from bench.load import wrk_command
from storefleet.control.hostnames.service import add_hostname
from storefleet.db.urls import libpq_conninfo, parse_url
from storefleet.testing import free_port, stop_group, wait_ready
from storefleet.testing import serve as serve_app

PLACEMENTS = ("pool", "schema")
PAGE = 20
PATH = f"/api/storefront/products?limit={PAGE}"


# ---- the app process (shared with bench.checkout) -------------------------------------------


def serve(args: argparse.Namespace) -> None:
    """The app under test, like ``storefleet serve`` (minus the access log)."""
    from storefleet.api.app import create_app

    control = parse_url(args.control_url)
    # Same concurrency as the ceiling: one tenant connection per load connection. The
    # response cache only with --storefront-cache (bench.storefront_cache's cached subject).
    settings = bench_settings(
        Path(args.home),
        control,
        tenant_pool_size=args.connections,
        storefront_cache_enabled=args.storefront_cache,
    )
    serve_app(create_app(settings, control), args.port)


def child(module: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", module, *extra]


def start_app(
    env: Env,
    port: int,
    connections: int,
    *,
    module: str = "bench.storefront_products",
    extra: tuple[str, ...] = (),
) -> subprocess.Popen[bytes]:
    """``<module> --serve [extra]`` (uvicorn) in its own process group, so stopping it stops
    nothing else."""
    return subprocess.Popen(
        child(
            module,
            "--serve",
            *extra,
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
    """Bare psycopg: one connection per worker, same concurrency, stores in rotation.

    A target holds either ``statements`` (the old route's, replayed one by one in a
    transaction) or ``script`` (the new statement's whole transaction as one string).
    """
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
            mine["conninfo"], prepare_threshold=None, autocommit="script" in mine
        ) as conn:
            cursor = psycopg.AsyncClientCursor(conn)
            n = k
            while time.perf_counter() < deadline:
                n += 1
                target = same_db[n % len(same_db)]
                t0 = time.perf_counter()
                if "script" in target:
                    await cursor.execute(target["script"])
                    while True:
                        if cursor.description is not None:
                            await cursor.fetchall()
                        if not cursor.nextset():
                            break
                else:
                    async with conn.transaction():
                        for query, params in target["statements"]:
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
    """The statements of one call of the old route (the ORM read), after a warm-up call."""
    from storefleet.commerce.pricing.service import PricingContext
    from tests.commerce.catalog import storefront_legacy as legacy

    where = await env.runtime.tenancy.placement(store_id, fresh=True)

    async def call() -> Any:
        async with env.runtime.tenancy.session(where, write=False) as s:
            code = await legacy.storefront_currency(s, None)
            return await legacy.storefront_products(s, PricingContext(code), limit=PAGE, offset=0)

    await call()  # server credentials, engine and connection: cached from now on
    assert env.control_url.database
    with captured(env.control_url.database) as seen:
        page = await call()
    items = page.items
    if len(items) != PAGE or any(i["price"]["amount"] is None or not i["in_stock"] for i in items):
        raise RuntimeError(f"unexpected page: {page}")
    return list(seen)


def statement_script(env: Env, conninfo: str, store_id: uuid.UUID, where: Any) -> str:
    """The new route's transaction as ``Tenancy.read`` sends it, values bound."""
    import psycopg

    from storefleet.commerce.catalog.storefront_sql import PRODUCTS

    values = {
        **PRODUCTS.defaults,
        "currency": None,
        "country": None,
        "limit": PAGE,
        "offset": 0,
        "_sf_enter_schema": where.schema,
        "_sf_enter_store_id": str(store_id),
        "_sf_statement_timeout": env.runtime.tenancy.limits.enter_params()["statement_timeout"],
        "_sf_lock_timeout": env.runtime.tenancy.limits.enter_params()["lock_timeout"],
    }
    with psycopg.connect(conninfo) as conn:
        return psycopg.ClientCursor(conn).mogrify(PRODUCTS.transaction_sql, values)


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
    env: Env, url: str, placements: list[str], per_placement: int, products: int
) -> tuple[dict[str, list[str]], dict[str, dict[str, list[dict[str, Any]]]]]:
    """Products per store; per placement the hosts and the replay and ceiling targets."""
    hosts: dict[str, list[str]] = {}
    targets: dict[str, dict[str, list[dict[str, Any]]]] = {}
    admin = await admin_client(env, url)
    gate = asyncio.Semaphore(4)

    async def fill(placement: str, i: int) -> None:
        store_id = env.store_ids[placement][i]
        async with gate:
            await create_products(admin, store_id, products, stock=100, tag=f"{placement}{i}")

    try:
        await asyncio.gather(*(fill(p, i) for p in placements for i in range(per_placement)))
        for placement in placements:
            mine = targets.setdefault(placement, {"replay": [], "ceiling": []})
            for i in range(per_placement):
                store_id = env.store_ids[placement][i]
                where = await env.runtime.tenancy.placement(store_id, fresh=True)
                conninfo = libpq_conninfo(await env.runtime.tenancy.app_url(where))
                mine["replay"].append(
                    {"conninfo": conninfo, "statements": await capture_route_sql(env, store_id)}
                )
                script = await asyncio.to_thread(statement_script, env, conninfo, store_id, where)
                mine["ceiling"].append({"conninfo": conninfo, "script": script})
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
        return wrk_command(url, PATH, hosts, args.connections, args.duration, script_dir)
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


def ceiling_cmd(args: argparse.Namespace, targets: Path) -> list[str]:
    return child(
        "bench.storefront_products",
        "--ceiling",
        "--targets",
        str(targets),
        "--connections",
        str(args.connections),
        "--duration",
        str(args.duration),
    )


SUBJECTS = ("routed", "replay", "ceiling")


def summarize(results: list[dict[str, Any]]) -> dict[str, float]:
    reqs = sum(x["requests"] for x in results)
    secs = sum(x["duration_us"] for x in results) / 1e6
    return {
        "rps": reqs / secs,
        "p50": median(x["p50_us"] for x in results) / 1000,
        "p99": median(x["p99_us"] for x in results) / 1000,
        "errors": sum(x["non2xx"] + x["socket_errors"] for x in results),
        "requests": reqs,
        "secs": secs,
    }


def per_round(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> str:
    rates = [
        x["requests"] / x["duration_us"] / (y["requests"] / y["duration_us"])
        for x, y in zip(a, b, strict=True)
    ]
    return ", ".join(f"{r:.2f}" for r in rates)


def mark(met: bool) -> str:
    return "met" if met else "**not met**"


async def run(args: argparse.Namespace) -> None:
    if args.loader == "auto":
        args.loader = "wrk" if shutil.which("wrk") else "python"
    placements = [p for p in args.placements.split(",") if p]
    server = start_server()
    proc: subprocess.Popen[bytes] | None = None
    workdir = Path(tempfile.mkdtemp(prefix="sf-bench-products-"))
    try:
        info = machine_info(server.url)
        async with bench_env(server) as env:
            for placement in placements:
                for i in range(args.stores_per_placement):
                    store_id = await env.ready_store(placement)
                    await add_host(env, store_id, f"products-{placement}-{i}.bench.example.com")
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proc = start_app(env, port, args.connections)
            await asyncio.to_thread(wait_ready, url, proc)
            t0 = time.perf_counter()
            hosts, targets = await setup(
                env, url, placements, args.stores_per_placement, args.products
            )
            setup_s = time.perf_counter() - t0
            runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
            timeout = args.duration * 4 + 60
            files: dict[tuple[str, str], Path] = {}
            for placement in placements:
                for kind in ("replay", "ceiling"):
                    files[(placement, kind)] = workdir / f"{placement}-{kind}.pickle"
                    files[(placement, kind)].write_bytes(pickle.dumps(targets[placement][kind]))
            # Warm-up (not counted): caches, engines and connections in the app.
            for placement in placements:
                warm = argparse.Namespace(**{**vars(args), "duration": 1})
                run_child(routed_cmd(warm, url, hosts[placement], workdir), timeout)
            for r in range(args.rounds):
                for i, placement in enumerate(placements):
                    commands = {
                        "routed": routed_cmd(args, url, hosts[placement], workdir),
                        "replay": ceiling_cmd(args, files[(placement, "replay")]),
                        "ceiling": ceiling_cmd(args, files[(placement, "ceiling")]),
                    }
                    shift = (r + i) % len(SUBJECTS)
                    for name in SUBJECTS[shift:] + SUBJECTS[:shift]:
                        result = await asyncio.to_thread(
                            run_measured, commands[name], timeout, proc.pid
                        )
                        runs.setdefault((placement, name), []).append(result)
                        print(placement, name, result, flush=True)
            stop_group(proc)
        rows = []
        for placement in placements:
            stats = {name: summarize(runs[(placement, name)]) for name in SUBJECTS}
            routed, replay, ceil = stats["routed"], stats["replay"], stats["ceiling"]
            mine = runs[(placement, "routed")]
            app_cpu = sum(x["app_cpu_s"] for x in mine)
            vs_replay = routed["rps"] / replay["rps"]
            vs_ceiling = routed["rps"] / ceil["rps"]
            tail = routed["p99"] / routed["p50"] if routed["p50"] else float("inf")
            rows.append(
                (
                    placement,
                    f"{routed['rps']:,.0f}",
                    f"{routed['p50']:.2f} / {routed['p99']:.2f}",
                    f"{replay['rps']:,.0f}",
                    f"{ceil['rps']:,.0f}",
                    f"**{vs_ceiling:.0%}** ({per_round(mine, runs[(placement, 'ceiling')])}) "
                    f"{mark(vs_ceiling >= 0.6)}",
                    f"{vs_replay:.2f}x ({per_round(mine, runs[(placement, 'replay')])}) "
                    f"{mark(vs_replay >= 1.5)}",
                    f"{tail:.1f} {mark(tail <= 3)}",
                    f"{app_cpu / routed['requests'] * 1000:.2f} ({app_cpu / routed['secs']:.0%})",
                    f"{routed['errors']} of {routed['requests']:,}",
                )
            )
        headers = [
            "placement",
            "routed req/s",
            "routed p50 / p99 ms",
            "replay (7 statements) req/s",
            "ceiling (1 statement) req/s",
            "routed / ceiling (per round), target ≥ 60%",
            "routed / replay (per round), target ≥ 1.5x",
            "p99 / p50, target ≤ 3",
            "app CPU ms per request (app CPU busy)",
            "routed errors",
        ]
        sample = targets[placements[0]]["replay"][0]["statements"]
        body = (
            f"Measured: `GET {PATH}` with `Host` rotating over "
            f"{args.stores_per_placement} store(s) per placement "
            f"(`products-<placement>-<i>.bench.example.com`), each with {args.products} "
            f"active published products: one default variant, a USD price with compare-at, "
            f"100 on hand at `main`, one image; created through the admin API in "
            f"{setup_s:.1f} s, not measured; every store's response checked once to hold "
            f"{PAGE} items, each priced and in stock. Served by uvicorn (1 worker, access log "
            f"off, `create_app(settings, control_url)`, `tenant_pool_size` "
            f"{args.connections}), no response cache; loaded by `{args.loader}` "
            f"(`bench.load`) in a separate process with {args.connections} keep-alive "
            f"connections for {args.duration} s per run, {args.rounds} round(s), the three "
            f"subjects in rotating order, after a 1 s warm-up per placement.\n\n"
            f"Replay = the statements of the route before issue 12 (the ORM read, "
            f"`tests.commerce.catalog.storefront_legacy`), captured from SQLAlchemy's cursor "
            f"for each store and replayed verbatim from a bare async psycopg loop "
            f"({args.connections} workers, one connection each, rotating over the stores, no "
            f"server-side prepares): per request BEGIN; {len(sample)} statements one after "
            f"the other, every row fetched; COMMIT. The statements: {describe(sample)}. "
            f"Ceiling = the route's single statement (`storefront_sql.PRODUCTS`) exactly as "
            f"`Tenancy.read` sends it, one simple-protocol string per request (`BEGIN READ "
            f"ONLY`; `set_config` x4; the statement; `COMMIT`), from the same kind of loop: "
            f"PostgreSQL's work and one round trip, no HTTP, routing or JSON. "
            f"Requests/s are totals over all rounds; latencies are the median of the per-run "
            f"percentiles. App CPU = user + system time of the uvicorn process during the "
            f"routed runs (from `/proc`), per request served and as a share of one CPU. "
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
    parser.add_argument("--stores-per-placement", type=int, default=50)
    parser.add_argument("--products", type=int, default=PAGE, help="products per store (>= 20)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--placements", default=",".join(PLACEMENTS))
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    # Child modes (used by the bench itself, and by bench.checkout for --serve).
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--storefront-cache", action="store_true", help=argparse.SUPPRESS)
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
