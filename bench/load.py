"""The storefront bench's load, pointed at any URL: wrk, N connections, ``Host`` rotating.

``bench.storefront_products`` loads storefleet with exactly this (``wrk_command``); run it
against another system serving the same page (e.g. a django-tenants shop with the same
products) to compare both under the same load on the same machine:

    .venv/bin/python -m bench.load http://127.0.0.1:8000 --path '/api/products?limit=20' \
        --hosts shop1.example.com,shop2.example.com [--hosts-file FILE] [-c 8] [-d 10]
        [--loader auto|wrk|python]

Prints wrk's ``RESULT {...}`` line (requests, duration, p50/p99 in µs, non-2xx, socket
errors) and a one-line summary (req/s, p50/p99 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
from pathlib import Path

from bench.common import WRK_SCRIPT, python_load, run_child


def wrk_command(
    url: str, path: str, hosts: list[str], connections: int, duration: float, script_dir: Path
) -> list[str]:
    """``wrk`` with one thread, ``connections`` keep-alive connections, ``Host`` rotating."""
    script = script_dir / "hosts.lua"
    script.write_text(WRK_SCRIPT % {"hosts": ", ".join(f'"{h}"' for h in hosts), "path": path})
    return [
        "wrk",
        "-t",
        "1",
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("url", help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--path", default="/api/storefront/products?limit=20")
    parser.add_argument("--hosts", default="", help="comma-separated Host values to rotate")
    parser.add_argument("--hosts-file", help="one Host value per line")
    parser.add_argument("-c", "--connections", type=int, default=8)
    parser.add_argument("-d", "--duration", type=int, default=10, help="seconds")
    parser.add_argument("--loader", choices=("auto", "wrk", "python"), default="auto")
    args = parser.parse_args()
    hosts = [h for h in args.hosts.split(",") if h]
    if args.hosts_file:
        hosts += [h.strip() for h in Path(args.hosts_file).read_text().splitlines() if h.strip()]
    if not hosts:
        hosts = [args.url.split("://", 1)[-1].split("/", 1)[0]]
    loader = args.loader
    if loader == "auto":
        loader = "wrk" if shutil.which("wrk") else "python"
    if loader == "python":
        asyncio.run(python_load(args.url, args.path, hosts, args.connections, args.duration))
        return
    with tempfile.TemporaryDirectory(prefix="sf-load-") as tmp:
        cmd = wrk_command(args.url, args.path, hosts, args.connections, args.duration, Path(tmp))
        result = run_child(cmd, args.duration * 4 + 60)
    print("RESULT " + json.dumps(result))
    rps = result["requests"] / (result["duration_us"] / 1e6)
    print(
        f"{rps:,.0f} req/s, p50 {result['p50_us'] / 1000:.2f} ms, "
        f"p99 {result['p99_us'] / 1000:.2f} ms, "
        f"errors {result['non2xx'] + result['socket_errors']} of {result['requests']:,}"
    )


if __name__ == "__main__":
    main()
