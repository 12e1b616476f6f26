"""Provisioning time per placement, next to the raw PostgreSQL limits measured in the same run.

Subjects: ``Provisioner.provision(store_id)`` for pool, schema and database stores (the store
rows are registered beforehand and not timed). Limits, on the same server, interleaved with
the subjects sample by sample:

- raw schema limit: ``CREATE SCHEMA`` + grants + the tenant head script in ONE transaction
  on an already open psycopg connection (what a schema store cannot beat);
- raw database limit: ``CREATE DATABASE x TEMPLATE <template>`` on an open connection.

Then an instrumented pass (not part of the numbers above) breaks ``provision`` down into its
steps and counts SQL statements per connection target, and cProfile shows where CPU goes.

    .venv/bin/python -m bench.provisioning [--stores 50] [--profile-stores 20]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.common import (
    Env,
    bench_env,
    machine_info,
    median,
    ms,
    percentile,
    ratio,
    report,
    start_server,
    table,
)
from storefleet.db.urls import libpq_conninfo, with_database
from storefleet.runtime import TENANT_METADATA
from storefleet.tenancy import ddl
from storefleet.tenancy import preparation as preparation_module
from storefleet.tenancy.migrations import TenantMigrator
from storefleet.testing import drop_database

PLACEMENTS = ("pool", "schema", "database")
POOL_TARGET_MS = 50.0
RAW_TARGET = 1.3


# ---- the raw limits -------------------------------------------------------------------------


class RawLimits:
    """Bare psycopg connections doing only the DDL a placement cannot avoid."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.migrator = TenantMigrator(metadata=TENANT_METADATA)
        self.script = self.migrator.head_script
        databases = env.runtime.provisioner.databases
        self.template = databases.template
        self.tenants = psycopg.connect(
            libpq_conninfo(with_database(env.server_url, databases.tenants)), autocommit=True
        )
        self.postgres = psycopg.connect(libpq_conninfo(env.server_url), autocommit=True)
        self.databases: list[str] = []

    def schema(self) -> float:
        schema = ddl.store_schema_name(uuid.uuid4())
        t0 = time.perf_counter()
        with self.tenants.transaction():
            for stmt in ddl.create_schema_statements(schema):
                self.tenants.execute(stmt.encode())
            self.tenants.execute(f"SET LOCAL ROLE {ddl.OWNER_ROLE}".encode())
            self.tenants.execute(f"SET LOCAL search_path TO {ddl.ident(schema)}".encode())
            self.tenants.execute(self.script.encode())
        return time.perf_counter() - t0

    def database(self) -> float:
        name = f"rawdb_{uuid.uuid4().hex[:16]}"
        stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(self.template), sql.Identifier(ddl.OWNER_ROLE)
        )
        t0 = time.perf_counter()
        self.postgres.execute(stmt)
        elapsed = time.perf_counter() - t0
        self.databases.append(name)
        return elapsed

    def close(self) -> None:
        self.tenants.close()
        self.postgres.close()
        for name in self.databases:
            drop_database(self.env.server_url, name)


# ---- the measured run -----------------------------------------------------------------------


async def measure(env: Env, stores: int) -> dict[str, list[float]]:
    # Warm-up (not counted): the first store of each placement creates the roles, the shared
    # tenant database and the template database, once per server.
    for placement in PLACEMENTS:
        await env.ready_store(placement)
    pending = {p: [await env.new_store(p) for _ in range(stores)] for p in PLACEMENTS}
    raw = RawLimits(env)
    samples: dict[str, list[float]] = defaultdict(list)
    try:
        # One untimed raw round each to warm the connections.
        raw.schema()
        raw.database()
        subjects: list[tuple[str, Callable[[], Awaitable[float]]]] = []
        for i in range(stores):
            subjects = [
                ("pool", lambda i=i: env.provision(pending["pool"][i])),
                ("schema", lambda i=i: env.provision(pending["schema"][i])),
                ("raw schema", lambda: asyncio.to_thread(raw.schema)),
                ("database", lambda i=i: env.provision(pending["database"][i])),
                ("raw database", lambda: asyncio.to_thread(raw.database)),
            ]
            shift = i % len(subjects)  # rotate so no subject always runs first
            for name, run in subjects[shift:] + subjects[:shift]:
                samples[name].append(await run())
    finally:
        raw.close()
    return samples


# ---- the breakdown --------------------------------------------------------------------------


class Breakdown:
    """Wraps the provisioner's steps with timers and counts statements per target."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.statements: dict[str, int] = defaultdict(int)
        self.connects: dict[str, int] = defaultdict(int)
        self.transactions: dict[str, int] = defaultdict(int)
        self.control_db = env.control_url.database

    def target(self, url: Any) -> str:
        if url.database == self.control_db:
            return "control plane"
        role = "request role" if url.username == ddl.APP_ROLE else "owner/admin"
        where = "tenants db" if url.database.endswith("_tenants") else "store db"
        if url.database.endswith("_tmpl"):
            where = "template db"
        return f"{where} as {role}"

    def install(self) -> Callable[[], None]:
        prov = self.env.runtime.provisioner
        tenancy = self.env.runtime.tenancy

        def on_execute(conn: Any, *args: Any) -> None:
            self.statements[self.target(conn.engine.url)] += 1

        def on_connect(dbapi_conn: Any, record: Any) -> None:
            self.connects["new DBAPI connection"] += 1

        def on_end(conn: Any) -> None:
            self.transactions[self.target(conn.engine.url)] += 1

        event.listen(Engine, "before_cursor_execute", on_execute)
        event.listen(Engine, "commit", on_end)
        event.listen(Engine, "rollback", on_end)
        from sqlalchemy.pool import Pool

        event.listen(Pool, "connect", on_connect)

        originals: list[tuple[object, str, object]] = []

        def wrap_async(obj: object, attr: str, label: str) -> None:
            fn = getattr(obj, attr)
            originals.append((obj, attr, fn))

            async def timed(*a: Any, **kw: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return await fn(*a, **kw)
                finally:
                    self.seconds[label] += time.perf_counter() - t0
                    self.calls[label] += 1

            setattr(obj, attr, timed)

        def wrap_sync(obj: object, attr: str, label: str) -> None:
            fn = getattr(obj, attr)
            originals.append((obj, attr, fn))

            def timed(*a: Any, **kw: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return fn(*a, **kw)
                finally:
                    self.seconds[label] += time.perf_counter() - t0
                    self.calls[label] += 1

            setattr(obj, attr, timed)

        wrap_async(prov, "_set_state", "control: _set_state (failures only)")
        wrap_sync(prov, "_prepare_server", "thread: _prepare_server (once per server)")
        wrap_sync(prov, "_fill_container", "thread: _fill_container (container + seed rows)")
        wrap_sync(
            prov, "ensure_schema_at_head", "  ensure_schema_at_head (schema + seed in one txn)"
        )
        wrap_sync(
            preparation_module,
            "create_database_on",
            "  create_database_on: CREATE DATABASE ... TEMPLATE (kept-open connection)",
        )
        wrap_sync(
            preparation_module,
            "seed_rows",
            "  seed_rows (5 inserts pipelined; inside the schema txn for schema stores)",
        )
        wrap_sync(
            preparation_module,
            "seed_new_database",
            "  seed_new_database: connect to the new database + seed in one round trip",
        )
        wrap_sync(
            psycopg, "connect", "  psycopg.connect (new connections opened while provisioning)"
        )
        wrap_async(tenancy, "placement", "  tenancy.placement")
        wrap_async(tenancy, "admin_url", "  tenancy.admin_url (owner-supplied databases only)")

        def uninstall() -> None:
            event.remove(Engine, "before_cursor_execute", on_execute)
            event.remove(Engine, "commit", on_end)
            event.remove(Engine, "rollback", on_end)
            event.remove(Pool, "connect", on_connect)
            for obj, attr, fn in reversed(originals):
                setattr(obj, attr, fn)

        return uninstall


async def breakdown(env: Env, placement: str, count: int, use_cprofile: bool) -> tuple[str, str]:
    ids = [await env.new_store(placement) for _ in range(count)]
    probe = Breakdown(env)
    uninstall = probe.install()
    total = 0.0
    profiler = cProfile.Profile()
    try:
        if use_cprofile:
            profiler.enable()
        for store_id in ids:
            total += await env.provision(store_id)
        profiler.disable()
    finally:
        uninstall()
    per = total / count
    labels = sorted(probe.seconds, key=lambda k: (k.startswith("  "), -probe.seconds[k]))
    top = [k for k in labels if not k.startswith("  ")]
    nested = [k for k in labels if k.startswith("  ")]
    accounted = sum(probe.seconds[k] for k in top)
    rows = [
        (
            ("↳ " + k.strip()) if k.startswith("  ") else k,
            f"{probe.calls[k] / count:.1f}",
            ms(probe.seconds[k] / count),
            f"{probe.seconds[k] / total:.0%}",
        )
        for k in top + nested
    ]
    rows.append(
        (
            "rest: provision()'s two control-plane statements (mark provisioning returning "
            "the rows; ready), cached server lookup, thread hand-offs",
            "",
            ms(max(0.0, total - accounted) / count),
            f"{max(0.0, total - accounted) / total:.0%}",
        )
    )
    rows.append(("**total provision()**", "1", ms(per), "100%"))
    stmts = ", ".join(
        f"{k}: {v / count:.1f} statements in {probe.transactions[k] / count:.1f} transactions"
        for k, v in sorted(probe.statements.items(), key=lambda kv: -kv[1])
    )
    conns = probe.connects.get("new DBAPI connection", 0) / count
    text = (
        f"**{placement}** ({count} stores, instrumented; mean per store)\n\n"
        + table(["step", "calls", "ms", "share"], rows)
        + f"\n\nSQL per store via SQLAlchemy: {stmts}; "
        f"new pooled DBAPI connections per store: {conns:.2f} "
        "(includes a database store's short-lived connection to its new database; the kept-open "
        "connections to `postgres` are outside SQLAlchemy and not counted)\n"
    )
    if not use_cprofile:
        return text, ""
    buf = io.StringIO()
    stats = pstats.Stats(profiler, stream=buf)
    stats.sort_stats("tottime").print_stats(8)
    return text, buf.getvalue()


def summarize(samples: dict[str, list[float]]) -> tuple[str, dict[str, float]]:
    raw_for = {"schema": "raw schema", "database": "raw database"}
    rows = []
    ratios: dict[str, float] = {}
    for name in ("pool", "schema", "raw schema", "database", "raw database"):
        values = samples[name]
        limit = raw_for.get(name)
        if limit:
            r_med = median(values) / median(samples[limit])
            r_p95 = percentile(values, 95) / percentile(samples[limit], 95)
            ratios[name] = r_med
            vs = f"{r_med:.2f}x / {r_p95:.2f}x"
            target = f"≤ {RAW_TARGET}x of {limit}: " + ("met" if r_med <= RAW_TARGET else "MISSED")
        elif name == "pool":
            vs = f"{ratio(median(values), median(samples['raw schema']))} of raw schema"
            target = f"< {POOL_TARGET_MS:.0f} ms: " + (
                "met" if median(values) * 1000 < POOL_TARGET_MS else "MISSED"
            )
        else:
            vs, target = "(limit)", ""
        rows.append(
            (
                name,
                len(values),
                ms(median(values)),
                ms(percentile(values, 95)),
                ms(min(values)),
                vs,
                target,
            )
        )
    headers = ["subject", "n", "median ms", "p95 ms", "min ms", "vs limit (median / p95)", "target"]
    return table(headers, rows), ratios


async def run(args: argparse.Namespace) -> None:
    server = start_server()
    try:
        info = machine_info(server.url)
        async with bench_env(server) as env:
            samples = await measure(env, args.stores)
            summary, _ = summarize(samples)
            print(summary)
            profiles: list[str] = []
            cprof: list[str] = []
            if args.profile_stores:
                for placement in PLACEMENTS:
                    text, prof = await breakdown(env, placement, args.profile_stores, args.cprofile)
                    profiles.append(text)
                    cprof.append(f"--- {placement} ---\n" + prof)
        body = (
            "Measured: `Provisioner.provision(store_id)` per placement (store rows registered "
            "beforehand, untimed; the first store of each placement, which creates roles, the "
            "shared tenant database and the template, is a warm-up and not counted). Limits, "
            "interleaved sample by sample with the subjects (rotating order): raw schema = "
            "`CREATE SCHEMA` + grants + `TenantMigrator().head_script` in one transaction on an "
            "open psycopg connection; raw database = `CREATE DATABASE x TEMPLATE <tmpl> OWNER "
            "storefleet_owner` on an open connection.\n\n"
            + summary
            + "\n\n### Where the time goes in `Provisioner.provision`\n\n"
            + "The breakdown pass runs after the measured one, with timers wrapped around the "
            "provisioner's steps (small overhead; compare shares, not absolute times).\n\n"
            + "\n".join(profiles)
        )
        if args.cprofile:
            body += (
                "\n<details><summary>cProfile (tottime, event-loop thread only; a "
                "coroutine's tottime includes time suspended)</summary>\n\n```\n"
                + "\n".join(_trim_profile(p) for p in cprof)
                + "\n```\n</details>\n"
            )
        report("provisioning", "Provisioning time per placement", info, body)
    finally:
        server.close()


def _trim_profile(text: str) -> str:
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip()]
    keep = [ln for ln in lines if not ln.strip().startswith(("Ordered by", "List reduced"))]
    return "\n".join(keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", type=int, default=50, help="measured stores per placement")
    parser.add_argument(
        "--profile-stores", type=int, default=20, help="stores per placement in the breakdown"
    )
    parser.add_argument("--cprofile", action="store_true", help="also cProfile the breakdown pass")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
