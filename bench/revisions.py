"""Two revisions of storefleet side by side: the same bench, run alternately on each.

A change that may cost speed (timeouts in every transaction, a different session shape) is
judged against the code before it *in the same run*, not against numbers from another day:
the old revision is checked out into a temporary worktree, and each round runs the bench
once on the old code and once on the new (the order alternating), each bench measuring its
own ceiling as usual. What is compared is the bench's headline figure per placement:

- ``storefront_products``: routed / ceiling (the share of the route's own SQL rate served);
- ``routing``: routed / ceiling for ``GET /api/storefront/store``;
- ``checkout``: checkouts per second.

Every run is reported. The verdict is two-sided: the new/old ratio of the medians, the
spread of the per-round ratios (the run-to-run noise), and whether the difference is inside
the tolerance, beyond it either way, or smaller than the noise.

    .venv/bin/python -m bench.revisions --against 79d5f72 [--bench storefront_products]
        [--bench checkout] [--rounds 3] [--tolerance 0.05]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import machine_info, median, report, start_server, table

ROOT = Path(__file__).resolve().parents[1]
PLACEMENTS = ("pool", "schema", "database")
HEADLINE = {
    "storefront_products": ("routed / ceiling", re.compile(r"\*\*(\d+(?:\.\d+)?)%\*\*")),
    "routing": ("routed / ceiling", re.compile(r"\*\*(\d+(?:\.\d+)?)%\*\*")),
    "checkout": ("checkouts/s", re.compile(r"\*\*(\d+(?:\.\d+)?)\*\*")),
}


def _number(cell: str) -> float:
    return float(cell.replace(",", "").replace("*", "").split()[0])


def headline(bench: str, output: str) -> dict[str, float]:
    """The bench's headline figure per placement, read from the table it printed.

    For the read benches, routed / ceiling is recomputed from the two req/s columns (the
    printed percentage is rounded to whole points, too coarse for a 5% comparison).
    """
    _, pattern = HEADLINE[bench]
    found: dict[str, float] = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not cells or cells[0] not in PLACEMENTS or cells[0] in found:
            continue
        if bench in ("storefront_products", "routing") and len(cells) > 3:
            found[cells[0]] = round(100 * _number(cells[1]) / _number(cells[3]), 2)
            continue
        match = next((pattern.search(c) for c in cells[1:] if pattern.search(c)), None)
        if match:
            found[cells[0]] = float(match.group(1))
    if set(found) != set(PLACEMENTS):
        raise RuntimeError(f"no headline for every placement in {bench}'s output:\n{output}")
    return found


def run_bench(tree: Path, bench: str, extra: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{bench}", *extra],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.{bench} in {tree} failed:\n{done.stdout}\n{done.stderr}")
    return headline(bench, done.stdout)


def verdict(ratios: list[float], tolerance: float) -> tuple[float, float, float, str]:
    """(median ratio, lowest, highest, words) of new/old per round."""
    mid, low, high = median(ratios), min(ratios), max(ratios)
    if low <= 1 <= high and abs(mid - 1) <= tolerance:
        words = f"within ±{tolerance:.0%} (the rounds straddle 1.00)"
    elif abs(mid - 1) <= tolerance:
        words = f"within ±{tolerance:.0%}"
    elif low <= 1 <= high:
        words = f"not distinguishable: the rounds range {low:.2f} to {high:.2f}"
    elif mid > 1:
        words = f"faster by {mid - 1:.0%} (beyond ±{tolerance:.0%})"
    else:
        words = f"SLOWER by {1 - mid:.0%} (beyond ±{tolerance:.0%})"
    return mid, low, high, words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, help="the older revision (git rev)")
    parser.add_argument("--bench", action="append", choices=sorted(HEADLINE))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=0.05)
    args = parser.parse_args()
    benches = args.bench or ["storefront_products", "checkout"]
    old_rev = subprocess.run(
        ["git", "rev-parse", "--short", args.against], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    new_rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout.strip()  # fmt: skip
    server = start_server()
    info = machine_info(server.url)
    server.close()
    old_tree = Path(tempfile.mkdtemp(prefix="sf-rev-")) / "old"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(old_tree), old_rev],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    sections: list[str] = []
    try:
        for bench in benches:
            runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
            for round_no in range(args.rounds):
                order = ("old", "new") if round_no % 2 == 0 else ("new", "old")
                for label in order:
                    tree = old_tree if label == "old" else ROOT
                    runs[label].append(run_bench(tree, bench, []))
                    print(f"{bench} round {round_no + 1} {label}: {runs[label][-1]}", flush=True)
            what, _ = HEADLINE[bench]
            rows = []
            for placement in PLACEMENTS:
                old = [r[placement] for r in runs["old"]]
                new = [r[placement] for r in runs["new"]]
                ratios = [n / o for n, o in zip(new, old, strict=True) if o]
                mid, low, high, words = verdict(ratios, args.tolerance)
                rows.append(
                    (
                        placement,
                        ", ".join(f"{v:g}" for v in old),
                        ", ".join(f"{v:g}" for v in new),
                        f"{median(new) / median(old):.2f}",
                        f"{mid:.2f} ({low:.2f} to {high:.2f})",
                        words,
                    )
                )
            sections.append(
                f"### `bench.{bench}`: {what}, `{old_rev}` (old) vs `{new_rev}` (new)\n\n"
                + table(
                    [
                        "placement",
                        f"old, every round ({what})",
                        f"new, every round ({what})",
                        "median new / median old",
                        "per-round new / old: median (range)",
                        "verdict",
                    ],
                    rows,
                )
            )
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(old_tree)], cwd=ROOT, check=False
        )
        shutil.rmtree(old_tree.parent, ignore_errors=True)
    body = (
        f"Measured: each bench run {args.rounds} times on the old revision and {args.rounds} "
        "times on the new one, alternating (old first in odd rounds, new first in even ones), "
        "each run with its own fresh PostgreSQL, stores and ceiling, exactly as the bench runs "
        "alone (its default options). The old revision is a temporary `git worktree` run with "
        "the same virtual environment. A per-round ratio divides a new run by the old run of "
        "the same round; its range is the run-to-run noise of this machine.\n\n"
        + "\n\n".join(sections)
    )
    report("revisions", "Before and after: the same benches on two revisions", info, body)


if __name__ == "__main__":
    main()
