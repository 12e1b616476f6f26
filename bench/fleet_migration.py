"""Fleet migration of one additive change, and a run with nothing to do, against raw floors.

Fleet: ``--schema`` schema stores (500), ``--database`` database stores (50) and a few pool
stores. The tenant history is copied to a temp dir with one added revision (``t9001``: a
nullable column on ``stores``) and applied with
``storefleet.control.placements.fleet.migrate_fleet``:

1. apply to a subset of 200 schema stores (``store_ids=``; target < 8 s);
2. apply to the rest of the fleet (everything else, templates included);
3. no-op reruns over the whole fleet (target < 0.5 s);
4. the whole ``storefleet tenants migrate`` process with nothing to do (target <= 0.5 s):
   a subprocess per run, wall clock from spawn to exit, start-up included.

With ``--cli-only`` only step 4 runs (``--cli-only --schema 200 --database 0 --pool 0``
is the fleet of issue 12's target: 200 schema stores), and it has a section of its own.

Floors in the same run, interleaved with the subjects:

- apply floor: raw ``ALTER TABLE <schema>.stores ADD COLUMN <other name> text`` over the
  same schemas via bare psycopg, one autocommit statement per schema, one connection per
  database; run just before AND just after the fleet run, the mean is the floor;
- no-op floor: one catalog query per database (connect + ``SELECT`` from ``pg_class``), the
  same ``--concurrency`` as the fleet run; floor and rerun alternate three times each;
- process floors for step 4, alternated with it: ``python -c pass`` (the interpreter) and
  ``python -c "import sqlalchemy, psycopg"`` (the least any command talking to PostgreSQL
  through SQLAlchemy loads).

    .venv/bin/python -m bench.fleet_migration [--schema 500] [--database 50] [--subset 200]
    .venv/bin/python -m bench.fleet_migration --cli-only --schema 200 --database 0 --pool 0 \
        [--before-tree DIR]   # DIR: `git archive <older revision> | tar -x -C DIR`
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

from bench.common import (
    Env,
    bench_env,
    machine_info,
    median,
    ms,
    report,
    start_server,
    table,
)
from storefleet.control.servers.service import default_server
from storefleet.db.migrate import migrations_root
from storefleet.db.urls import libpq_conninfo
from storefleet.runtime import TENANT_METADATA
from storefleet.tenancy import ddl
from storefleet.tenancy.migrations import TenantMigrator

APPLY_TARGET_S = 8.0
NOOP_TARGET_S = 0.5
PROCESS_TARGET_S = 0.5
MIGRATE_COMMAND = [sys.executable, "-m", "storefleet.cli.main", "tenants", "migrate"]
FLOORS = {
    "`python -c pass`": [sys.executable, "-c", "pass"],
    '`python -c "import sqlalchemy, psycopg"`': [
        sys.executable,
        "-c",
        "import sqlalchemy, psycopg",
    ],
}
REVISION = "t9001"

ADDITIVE = '''"""bench: an additive change (nullable column on stores)

Revision ID: {rev}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stores", sa.Column("bench_note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("stores", "bench_note")
'''


def additive_history(workdir: Path) -> TenantMigrator:
    """The tenant history plus ``t9001``, in a temp dir (the real one is untouched)."""
    location = workdir / "tenant"
    shutil.copytree(
        migrations_root() / "tenant", location, ignore=shutil.ignore_patterns("__pycache__")
    )
    head = TenantMigrator(location, metadata=TENANT_METADATA).head
    (location / "versions" / f"{REVISION}_bench_additive.py").write_text(
        ADDITIVE.format(rev=REVISION, down=head)
    )
    migrator = TenantMigrator(location, metadata=TENANT_METADATA)
    assert migrator.head == REVISION
    return migrator


# ---- the floors -----------------------------------------------------------------------------


class Fleet:
    """Where every store's schema lives, as owner-level libpq conninfo strings."""

    def __init__(self) -> None:
        self.schemas: dict[str, list[str]] = {}  # conninfo -> schemas in that database

    async def load(self, env: Env, store_ids: list[uuid.UUID]) -> None:
        for store_id in store_ids:
            where = await env.runtime.tenancy.placement(store_id, fresh=True)
            conninfo = libpq_conninfo(await env.runtime.tenancy.admin_url(where))
            self.schemas.setdefault(conninfo, []).append(where.schema)

    def databases(self) -> list[str]:
        return list(self.schemas)


def raw_alter(fleet: Fleet, column: str) -> float:
    """ADD COLUMN over every schema: one connection per database, one statement per schema."""
    t0 = time.perf_counter()
    for conninfo, schemas in fleet.schemas.items():
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(
                    f"ALTER TABLE {ddl.ident(ddl.checked_schema(schema))}.stores "
                    f"ADD COLUMN {ddl.ident(column)} text".encode()
                )
    return time.perf_counter() - t0


def catalog_floor(databases: list[str], concurrency: int) -> float:
    """Connect to each database and ask the catalog one question: the no-op run's floor."""

    def probe(conninfo: str) -> None:
        with psycopg.connect(conninfo, autocommit=True, prepare_threshold=None) as conn:
            conn.execute(
                "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = 'alembic_version'"
            ).fetchall()

    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(probe, databases))
    return time.perf_counter() - t0


def process_environment(pycache: Path) -> dict[str, str]:
    """Every measured process (subject and floors) runs with compiled bytecode, as an
    installed package does: ``PYTHONDONTWRITEBYTECODE`` (set in some dev shells) would make
    each run recompile our modules, and only ours (site-packages ship ``.pyc``). The cache
    goes to a temp dir, never into the checkout; an untimed first run of each fills it."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("STOREFLEET_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    return {**keep, "PYTHONPYCACHEPREFIX": str(pycache)}


def cli_environment(env: Env, pycache: Path) -> dict[str, str]:
    """The bench's settings as a ``storefleet`` process reads them (same control plane, keys)."""
    return {
        **process_environment(pycache),
        "STOREFLEET_ENVIRONMENT": "test",
        "STOREFLEET_HOME": str(env.home),
        "STOREFLEET_DATABASE_URL": env.control_url.render_as_string(hide_password=False),
    }


def timed_process(
    cmd: list[str], environ: dict[str, str] | None = None, cwd: Path | None = None
) -> tuple[float, str]:
    """Wall clock of one process from spawn to exit, and its output (it must exit 0)."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=environ, cwd=cwd, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return elapsed, done.stdout


Rounds = tuple[list[float], dict[str, list[float]], list[float]]


def process_rounds(env: Env, rounds: int, before: Path | None) -> Rounds:
    """``tenants migrate`` (no-op) alternated with each process floor, ``rounds`` times,
    and with the same command run from ``before`` (an older tree) when given."""
    pycache = Path(tempfile.mkdtemp(prefix="sf-bench-pyc-"))
    try:
        return _process_rounds(env, rounds, pycache, before)
    finally:
        shutil.rmtree(pycache, ignore_errors=True)


def _process_rounds(env: Env, rounds: int, pycache: Path, before: Path | None) -> Rounds:
    environ, plain = cli_environment(env, pycache), process_environment(pycache)
    older = {**environ, "PYTHONPATH": str(before)} if before else None
    # Untimed: the first migrate records checksums; each first run fills the bytecode cache.
    timed_process(MIGRATE_COMMAND, environ)
    for cmd in FLOORS.values():
        timed_process(cmd, plain)
    if older:
        # From inside the older tree: ``-m`` puts the working directory first on sys.path.
        timed_process(MIGRATE_COMMAND, older, before)
    subject: list[float] = []
    floors: dict[str, list[float]] = {name: [] for name in FLOORS}
    previous: list[float] = []
    for _ in range(rounds):
        for name, cmd in FLOORS.items():
            floors[name].append(timed_process(cmd, plain)[0])
        if older:
            elapsed, output = timed_process(MIGRATE_COMMAND, older, before)
            previous.append(_no_op(elapsed, output))
        elapsed, output = timed_process(MIGRATE_COMMAND, environ)
        subject.append(_no_op(elapsed, output))
    return subject, floors, previous


def _no_op(elapsed: float, output: str) -> float:
    if not _nothing_migrated(output):
        raise RuntimeError(f"the no-op command migrated something:\n{output}")
    return elapsed


def _nothing_migrated(output: str) -> bool:
    """The summary's ``migrated`` row says 0 units."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] == "migrated":
            return cells[1] == "0"
    return False


def process_table(env: Env, rounds: Rounds, before: Path | None) -> str:
    subject, floors, previous = rounds
    counts = {k: len(v) for k, v in env.store_ids.items()}
    fleet = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    import_floor = median(floors['`python -c "import sqlalchemy, psycopg"`'])
    runs = ", ".join(f"{x:.3f}" for x in subject)
    rows = [
        (
            f"`storefleet tenants migrate`, nothing to do ({fleet} stores)",
            f"{median(subject):.3f} ({runs})",
            f"{median(subject) / import_floor:.2f}x",
            f"<= {PROCESS_TARGET_S} s: "
            + ("met" if median(subject) <= PROCESS_TARGET_S else "MISSED"),
        )
    ]
    if before and previous:
        rows.append(
            (
                f"the same command from `{before}` (an older tree, `PYTHONPATH`)",
                f"{median(previous):.3f} ({', '.join(f'{x:.3f}' for x in previous)})",
                f"{median(previous) / import_floor:.2f}x",
                f"now / then: {median(subject) / median(previous):.2f}x",
            )
        )
    for name, values in floors.items():
        rows.append(
            (
                f"floor: {name}",
                f"{median(values):.3f} ({', '.join(f'{x:.3f}' for x in values)})",
                f"{median(values) / import_floor:.2f}x",
                "",
            )
        )
    return (
        f"Whole process, wall clock from spawn to exit (`{' '.join(MIGRATE_COMMAND[1:])}`, "
        f"output captured), median of {len(subject)} runs after one untimed run of each "
        "process; each run alternated with the floors; bytecode cached for all (the "
        "`PYTHONPYCACHEPREFIX` of the run). Seconds.\n\n"
        + table(["process", "median s (runs)", "/ import floor", "target"], rows)
        + f"\n\nAbove the import floor: {median(subject) - import_floor:.3f} s (settings, "
        "the control-plane check, the runtime, the fleet run and its report)."
    )


# ---- the run --------------------------------------------------------------------------------


async def fleet_run(env: Env, migrator: TenantMigrator, concurrency: int, **kw: object):
    from storefleet.control.placements.fleet import migrate_fleet

    t0 = time.perf_counter()
    result = await migrate_fleet(
        env.runtime, target="head", concurrency=concurrency, migrator=migrator, **kw
    )
    elapsed = time.perf_counter() - t0
    if not result.ok:
        raise RuntimeError(f"fleet migration failed: {[r.error for r in result.failed][:3]}")
    return elapsed, result


def outcome_text(result) -> str:
    counts: dict[str, int] = {}
    for r in result.results:
        counts[f"{r.outcome} {r.unit.kind}"] = counts.get(f"{r.outcome} {r.unit.kind}", 0) + 1
    return ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))


async def run(args: argparse.Namespace) -> None:
    server = start_server()
    workdir = Path(tempfile.mkdtemp(prefix="sf-bench-fleet-"))
    try:
        info = machine_info(server.url)
        migrator = additive_history(workdir)
        async with bench_env(server) as env:
            t0 = time.perf_counter()
            for placement, n in (
                ("pool", args.pool),
                ("schema", args.schema),
                ("database", args.database),
            ):
                for _ in range(n):
                    await env.ready_store(placement)
            provision_s = time.perf_counter() - t0
            if args.cli_only:
                rounds = await asyncio.to_thread(
                    process_rounds, env, args.cli_runs, args.before_tree
                )
                body = (
                    f"Fleet: {args.pool} pool, {args.schema} schema, {args.database} database "
                    f"stores (provisioned in {provision_s:.0f} s, not the subject).\n\n"
                    + process_table(env, rounds, args.before_tree)
                )
                report(
                    "fleet_command_startup",
                    "Fleet command: no-op migrate, whole process",
                    info,
                    body,
                )
                return
            schema_ids = env.store_ids.get("schema", [])
            subset_ids = schema_ids[: args.subset]
            rest_ids = schema_ids[args.subset :] + env.store_ids.get("database", [])
            subset, rest, everything = Fleet(), Fleet(), Fleet()
            await subset.load(env, subset_ids)
            await rest.load(env, rest_ids)
            await everything.load(env, [i for ids in env.store_ids.values() for i in ids])
            template = env.runtime.provisioner.databases.template
            async with env.runtime.control_sessions() as s:
                default = await default_server(s)
            access = await env.runtime.tenancy.server(default.id)
            admin_template = libpq_conninfo(access.admin(template))
            databases = [*everything.databases(), admin_template]

            # 0. the history's current head everywhere: nothing to do (before the change).
            old = env.runtime.provisioner.migrator
            noop_before, _ = await fleet_run(env, old, args.concurrency)

            # 1. apply to the subset, between two raw floors.
            floor_a1 = await asyncio.to_thread(raw_alter, subset, "raw_before")
            apply_subset, res_subset = await fleet_run(
                env, migrator, args.concurrency, store_ids=subset_ids
            )
            floor_a2 = await asyncio.to_thread(raw_alter, subset, "raw_after")

            # 2. apply to the rest of the fleet (the subset is already current).
            floor_b1 = await asyncio.to_thread(raw_alter, rest, "raw_before")
            apply_rest, res_rest = await fleet_run(env, migrator, args.concurrency)
            floor_b2 = await asyncio.to_thread(raw_alter, rest, "raw_after")

            # 3. no-op reruns alternating with the catalog floor.
            noop: list[float] = []
            floors: list[float] = []
            res_noop = None
            for _ in range(args.noop_rounds):
                floors.append(await asyncio.to_thread(catalog_floor, databases, args.concurrency))
                elapsed, res_noop = await fleet_run(env, migrator, args.concurrency)
                noop.append(elapsed)
            assert res_noop is not None
            if res_noop.migrated:
                raise RuntimeError("the no-op rerun migrated something")

            # 4. the whole command, as an operator runs it.
            process = await asyncio.to_thread(process_rounds, env, args.cli_runs, args.before_tree)

        def unit_median(result, kind: str) -> str:
            values = [r.seconds for r in result.migrated if r.unit.kind == kind]
            return ms(statistics.median(values)) if values else "-"

        floor_subset = (floor_a1 + floor_a2) / 2
        floor_rest = (floor_b1 + floor_b2) / 2
        n_db = args.database
        n_rest_schema = max(0, args.schema - args.subset)
        apply_verdict = f"< {APPLY_TARGET_S:.0f} s: " + (
            "met" if apply_subset < APPLY_TARGET_S else "MISSED"
        )
        noop_verdict = f"< {NOOP_TARGET_S} s: " + (
            "met" if median(noop) < NOOP_TARGET_S else "MISSED"
        )
        headers = ["run", "fleet s", "floor s (before / after)", "fleet / floor", "target"]
        headers.append("outcomes")
        rows = [
            (
                f"apply t9001: {len(subset_ids)} schema stores (`store_ids=`)",
                f"{apply_subset:.2f}",
                f"{floor_subset:.2f} ({floor_a1:.2f} / {floor_a2:.2f})",
                f"{apply_subset / floor_subset:.1f}x",
                apply_verdict,
                outcome_text(res_subset),
            ),
            (
                f"apply t9001: rest ({n_rest_schema} schema + {n_db} database + pool + template)",
                f"{apply_rest:.2f}",
                f"{floor_rest:.2f} ({floor_b1:.2f} / {floor_b2:.2f})",
                f"{apply_rest / floor_rest:.1f}x",
                "",
                outcome_text(res_rest),
            ),
            (
                f"apply t9001: whole fleet ({args.schema} schema + {n_db} database), sum",
                f"{apply_subset + apply_rest:.2f}",
                f"{floor_subset + floor_rest:.2f}",
                f"{(apply_subset + apply_rest) / (floor_subset + floor_rest):.1f}x",
                "",
                "",
            ),
            (
                f"no-op rerun, whole fleet ({len(databases)} databases), median of {len(noop)}",
                f"{median(noop):.3f} ({', '.join(f'{x:.3f}' for x in noop)})",
                f"{median(floors):.3f} ({', '.join(f'{x:.3f}' for x in floors)})",
                f"{median(noop) / median(floors):.1f}x",
                noop_verdict,
                outcome_text(res_noop),
            ),
            (
                "no-op run before the change (old head), once",
                f"{noop_before:.3f}",
                "",
                "",
                "",
                "",
            ),
        ]
        body = (
            f"Measured: `storefleet.control.placements.fleet.migrate_fleet(runtime, target='head', "
            f"concurrency={args.concurrency}, migrator=TenantMigrator(location=<copy of "
            f"migrations/tenant + t9001>))`, t9001 = `op.add_column('stores', bench_note text "
            f"NULL)`. Fleet: {args.pool} pool, {args.schema} schema, {args.database} database "
            f"stores (provisioned in {provision_s:.0f} s, not the subject). Apply floor = raw "
            f"`ALTER TABLE <schema>.stores ADD COLUMN <other column> text` over the same "
            f"schemas, bare psycopg, one autocommit statement per schema, one connection per "
            f"database, sequential; run just before and just after the fleet run (both shown, "
            f"the mean is the floor). No-op floor = connect + one catalog query per database "
            f"({len(databases)}: tenants db, {n_db} store dbs, template) with "
            f"{args.concurrency} threads; alternated with the no-op reruns. Times in seconds.\n\n"
            + table(headers, rows)
            + f"\n\nMedian time per migrated unit inside the fleet run: schema "
            f"{unit_median(res_subset, 'schema')} ms (subset), schema "
            f"{unit_median(res_rest, 'schema')} ms / database "
            f"{unit_median(res_rest, 'database')} ms (rest).\n\n"
            + process_table(env, process, args.before_tree)
            + "\n"
        )
        report("fleet_migration", "Fleet migration of an additive change", info, body)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", type=int, default=5)
    parser.add_argument("--schema", type=int, default=500)
    parser.add_argument("--database", type=int, default=50)
    parser.add_argument("--subset", type=int, default=200, help="schema stores in run 1")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--noop-rounds", type=int, default=3)
    parser.add_argument("--cli-runs", type=int, default=5, help="timed `tenants migrate` runs")
    parser.add_argument("--cli-only", action="store_true", help="only the whole-process runs")
    parser.add_argument(
        "--before-tree",
        type=Path,
        help="an older checkout (e.g. `git archive REV | tar -x -C DIR`): its `tenants migrate` "
        "runs alternated with this one's",
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
