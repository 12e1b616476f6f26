"""EXPLAIN of the storefront's single statements on a big store and a crowded pool.

One ``pool`` store with ``--products`` products and ``--neighbours`` other stores in the
same pool tables (``--neighbour-products`` each), and one ``schema`` store with
``--products`` products: every product active and published, with a default variant, a USD
price, stock at one location and an image, bulk-inserted with ``INSERT … SELECT`` straight
into the tenant tables (as the superuser; the rows are what the admin API would write). A
category holds a tenth of the big store's products. Then, as the request role inside the
store (``set_config`` of search_path and store id, row-level security on), ``EXPLAIN
ANALYZE`` of each statement of ``commerce.catalog.storefront_sql``; the list, category and
product statements must not read ``products``, ``product_variants``, ``prices``,
``inventory`` or ``product_images`` by sequential scan (the run fails if they do). Search is
shown for the record: its trigram ``similarity`` conditions are not indexable (as before).

    .venv/bin/python -m bench.storefront_plans [--products 10000] [--neighbours 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import uuid
from typing import Any

import psycopg
from psycopg import sql

from bench.common import bench_env, machine_info, report, start_server, table
from storefleet.commerce.catalog import storefront_sql as statements
from storefleet.db.urls import libpq_conninfo, with_database
from storefleet.tenancy.ddl import APP_ROLE
from storefleet.tenancy.reads import ReadQuery

GUARDED = ("products", "product_variants", "prices", "inventory", "product_images")
SEQ_SCAN = re.compile(r"Seq Scan on (\w+)")

_LOAD = """
INSERT INTO inventory_locations (store_id, id, name, code, is_active, is_default, address)
SELECT st, gen_random_uuid(), 'Main', 'main', true, true, '{{}}'
FROM unnest(%(stores)s::uuid[]) st
ON CONFLICT DO NOTHING;
INSERT INTO products (store_id, id, name, slug, description, status, kind, vendor, tags,
  requires_shipping, published_at, metadata)
SELECT st, gen_random_uuid(), 'Bulk product ' || n, 'bulk-' || n, 'Bulk loaded', 'active',
  'physical', 'Bulk', '{{}}', true, now() - n * interval '1 second', '{{}}'
FROM unnest(%(stores)s::uuid[]) st, generate_series(1, %(count)s) n;
INSERT INTO product_variants (store_id, id, product_id, title, sku, option_values,
  track_inventory, allow_backorder, position, is_default)
SELECT p.store_id, gen_random_uuid(), p.id, 'Default', upper(p.slug), '{{}}', true, false, 0, true
FROM products p WHERE p.store_id = ANY(%(stores)s::uuid[]) AND p.slug LIKE 'bulk-%%';
INSERT INTO prices (store_id, id, variant_id, currency, amount, min_quantity)
SELECT v.store_id, gen_random_uuid(), v.id, 'USD', 1000, 1
FROM product_variants v WHERE v.store_id = ANY(%(stores)s::uuid[]) AND v.sku LIKE 'BULK-%%';
INSERT INTO inventory (store_id, id, variant_id, location_id, on_hand, reserved, incoming)
SELECT v.store_id, gen_random_uuid(), v.id, l.id, 10, 0, 0
FROM product_variants v JOIN inventory_locations l ON l.store_id = v.store_id AND l.is_default
WHERE v.store_id = ANY(%(stores)s::uuid[]) AND v.sku LIKE 'BULK-%%';
INSERT INTO product_images (store_id, id, product_id, url, alt, position)
SELECT p.store_id, gen_random_uuid(), p.id, 'https://cdn.example.com/' || p.slug || '.jpg',
  '', 0
FROM products p WHERE p.store_id = ANY(%(stores)s::uuid[]) AND p.slug LIKE 'bulk-%%';
"""
_CATEGORY = """
INSERT INTO categories (store_id, id, name, slug, path, description, position, is_active)
VALUES (%(store)s, %(category)s, 'Bulk', 'bulk', 'bulk', '', 0, true);
INSERT INTO category_products (store_id, id, category_id, product_id, position)
SELECT p.store_id, gen_random_uuid(), %(category)s, p.id, 0
FROM products p WHERE p.store_id = %(store)s AND p.slug LIKE 'bulk-%%'
  AND right(p.slug, 1) = '7';
"""


def _each(conn: psycopg.Connection[Any], script: str, params: dict[str, Any]) -> None:
    for statement in script.format().split(";\n"):
        if statement.strip():
            conn.execute(statement, params)


def load(conninfo: str, schema: str, store: uuid.UUID, count: int, others: int, each: int) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
        _each(conn, _LOAD, {"stores": [store], "count": count})
        if others:
            neighbours = [uuid.uuid4() for _ in range(others)]
            _each(conn, _LOAD, {"stores": neighbours, "count": each})
        _each(conn, _CATEGORY, {"store": store, "category": uuid.uuid4()})
        for name in (*GUARDED, "category_products", "categories", "inventory_locations"):
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(name)))


def explain(
    conninfo: str, schema: str, store: uuid.UUID, query: ReadQuery, params: dict[str, Any]
) -> list[str]:
    """The plan of ``query`` as the request role inside the store (RLS applies)."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(APP_ROLE)))
        conn.execute(
            "SELECT set_config('search_path', %s, true), "
            "set_config('storefleet.store_id', %s, true)",
            (schema, str(store)),
        )
        cur = psycopg.ClientCursor(conn)
        for _ in range(2):  # the second: caches warm, as on a pooled connection
            cur.execute(
                "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + query.sql,
                {**query.defaults, **params},
            )
            plan = [str(r[0]) for r in cur.fetchall()]
        return plan


def key_lines(plan: list[str]) -> list[str]:
    keep = ("Scan", "Planning Time", "Execution Time", "Sort", "Limit")
    return [line.strip() for line in plan if any(k in line for k in keep)]


async def run(args: argparse.Namespace) -> None:
    server = start_server()
    try:
        info = machine_info(server.url)
        async with bench_env(server) as env:
            cases = {
                "pool": (args.neighbours, args.neighbour_products),
                "schema": (0, 0),
            }
            rows, details, failures = [], [], []
            for placement, (others, each) in cases.items():
                store = await env.ready_store(placement)
                where = await env.runtime.tenancy.placement(store, fresh=True)
                conninfo = libpq_conninfo(with_database(server.url, where.database))
                await asyncio.to_thread(
                    load, conninfo, where.schema, store, args.products, others, each
                )
                base = {"currency": None, "country": None, "limit": 20, "offset": 0}
                checks: dict[str, tuple[ReadQuery, dict[str, Any], bool]] = {
                    "list": (statements.PRODUCTS, base, True),
                    "list, offset 5000": (statements.PRODUCTS, {**base, "offset": 5000}, True),
                    "category": (statements.CATEGORY_PRODUCTS, {**base, "category": "bulk"}, True),
                    "product": (
                        statements.PRODUCT,
                        {"slug": "bulk-42", "currency": None, "country": None},
                        True,
                    ),
                    "search": (statements.SEARCH, {**base, "q": "product 4217"}, False),
                }
                for name, (query, params, guarded) in checks.items():
                    plan = await asyncio.to_thread(
                        explain, conninfo, where.schema, store, query, params
                    )
                    seq = sorted(set(SEQ_SCAN.findall("\n".join(plan))))
                    bad = [t for t in seq if t in GUARDED]
                    if guarded and bad:
                        failures.append(f"{placement} {name}: Seq Scan on {', '.join(bad)}")
                    timing = " / ".join(
                        ln.split(":", 1)[1].strip()
                        for ln in plan
                        if "Planning Time" in ln or "Execution Time" in ln
                    )
                    rows.append(
                        (
                            placement,
                            name,
                            ", ".join(seq) or "none",
                            "yes" if guarded else "no (recorded)",
                            "**ok**" if not (guarded and bad) else "**FAIL**",
                            timing,
                        )
                    )
                    details.append(
                        f"{placement} / {name}:\n\n```\n" + "\n".join(key_lines(plan)) + "\n```"
                    )
        body = (
            f"Data: `pool`: one store with {args.products:,} products plus {args.neighbours:,} "
            f"other stores with {args.neighbour_products} products each in the same tables; "
            f"`schema`: one store with {args.products:,} products. Each product: default "
            "variant, USD price, stock, image; a category holds a tenth of the big store's "
            "products. Plans by `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)` as the request role "
            "inside the store (RLS on), page of 20, the second run on the connection "
            "(warm caches).\n\n"
            + table(
                [
                    "placement",
                    "statement",
                    "seq scans",
                    "guarded",
                    "verdict",
                    "planning / execution time",
                ],
                rows,
            )
            + "\n\nKey plan lines:\n\n"
            + "\n\n".join(details)
            + "\n"
        )
        report("storefront_plans", "Storefront: plans of the single statements", info, body)
        if failures:
            raise SystemExit("sequential scans on guarded tables: " + "; ".join(failures))
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--neighbours", type=int, default=1_000)
    parser.add_argument("--neighbour-products", type=int, default=10)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
