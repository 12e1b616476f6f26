"""Helpers shared by the catalog test modules (and the pricing and catalog-attack tests)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from storefleet.db.urls import libpq_conninfo, with_database
from storefleet.testing import Stores

Shop = dict[str, Any]
PROBLEM = "application/problem+json"
COUNTED = (
    "products",
    "product_options",
    "product_option_values",
    "product_variants",
    "prices",
    "inventory",
    "inventory_adjustments",
    "product_images",
    "category_products",
    "categories",
)


# --- helpers shared by the catalog test modules --------------------------------------------


def api(store: Shop, path: str) -> str:
    return f"/api/stores/{store['id']}{path}"


def front(store: Shop) -> dict[str, str]:
    return {"X-Store-Id": str(store["id"])}


def fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json().get("errors", [])]


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    if field is not None:
        assert field in fields(response), response.json()
    body: dict[str, Any] = response.json()
    return body


def word(prefix: str = "p") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def tshirt(sku: str | None = None, **extra: Any) -> dict[str, Any]:
    """A product with two options, two variants, prices, stock, images and no category."""
    sku = sku or word("SKU").upper()
    body: dict[str, Any] = {
        "name": "Classic Tee",
        "slug": word("tee"),
        "description": "Soft cotton",
        "status": "active",
        "published": True,
        "vendor": "Acme",
        "tags": ["cotton", "summer"],
        "metadata": {"origin": "PT"},
        "options": [{"name": "Size", "values": ["S", "M"]}, {"name": "Color", "values": ["Red"]}],
        "variants": [
            {
                "sku": f"{sku}-S",
                "option_values": {"Size": "S", "Color": "Red"},
                "weight_grams": 200,
                "prices": [{"currency": "USD", "amount": 1999, "compare_at_amount": 2499}],
                "stock": [{"location_code": "main", "on_hand": 5}],
            },
            {
                "sku": f"{sku}-M",
                "is_default": True,
                "option_values": {"Size": "M", "Color": "Red"},
                "prices": [
                    {"currency": "USD", "amount": 2099},
                    {"currency": "USD", "amount": 1899, "min_quantity": 10},
                ],
                "stock": [{"location_code": "main", "on_hand": 0}],
            },
        ],
        "images": [
            {"url": "https://cdn.example.com/tee-m.jpg", "alt": "M", "variant_sku": f"{sku}-M"},
            {"url": "https://cdn.example.com/tee.jpg", "alt": "front", "position": 5},
        ],
    }
    body.update(extra)
    return body


def make_shops(stores: Stores) -> Callable[[str, str], Shop]:
    cache: dict[tuple[str, str], Shop] = {}

    def get(placement: str, which: str = "main") -> Shop:
        if (placement, which) not in cache:
            cache[(placement, which)] = stores.create(placement)
        return cache[(placement, which)]

    return get


def make_counter(
    pg_server: URL, control_conn: psycopg.Connection
) -> Callable[[Shop], dict[str, int]]:
    """Row counts of the store's catalog tables, read as the superuser (no RLS, no API)."""

    def counts(store: Shop) -> dict[str, int]:
        found = control_conn.execute(
            "SELECT database_name, schema_name FROM store_databases WHERE store_id = %s",
            (store["id"],),
        ).fetchone()
        assert found is not None
        database, schema = found
        url = with_database(pg_server, database)
        with psycopg.connect(libpq_conninfo(url), autocommit=True) as conn:
            out = {}
            for table in COUNTED:
                query = sql.SQL("SELECT count(*) FROM {}.{} WHERE store_id = %s").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
                row = conn.execute(query, (store["id"],)).fetchone()
                assert row is not None
                out[table] = int(row[0])
            return out

    return counts
