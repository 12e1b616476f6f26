"""The seed statements are generated from the tenant models, so they keep up with them."""

from __future__ import annotations

import uuid

from storefleet.commerce.seed import first_rows
from storefleet.db.ids import uuid7
from storefleet.tenancy.seed import Seed, seed_statements


def a_seed() -> Seed:
    return Seed(
        store_id=uuid7(),
        name="Corner Shop",
        slug="corner-shop",
        owner_id=uuid.uuid4(),
        email="owner@example.com",
        first_name="Ada",
        last_name="Lovelace",
        email_verified=True,
    )


def test_every_required_column_gets_a_value() -> None:
    seed = a_seed()
    for model, _ in first_rows(seed):
        table = model.__table__
        statements = dict(seed_statements("tenant", seed, first_rows))
        sql = next(s for s in statements if f"INSERT INTO {table.name} " in s)
        params = statements[sql]
        for column in table.columns:
            if column.nullable or column.server_default is not None:
                continue
            assert params.get(column.key) is not None, f"{table.name}.{column.key} has no value"
            assert f"%({column.key})s" in sql


def test_each_call_gets_fresh_ids_and_enters_the_store_first() -> None:
    seed = a_seed()
    first = list(seed_statements("tenant", seed, first_rows))
    second = list(seed_statements("tenant", seed, first_rows))
    assert "set_config('role'" in first[0][0]
    assert first[0][1][2] == str(seed.store_id)
    config_ids = [
        params["id"]
        for run in (first, second)
        for sql, params in run
        if sql.startswith("INSERT INTO store_configs")
    ]
    assert len(set(config_ids)) == 2
    assert all(s.endswith("ON CONFLICT DO NOTHING") for s, _ in first[1:])
