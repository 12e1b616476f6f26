"""The store-count limit holds under concurrent creations (one account, many requests)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import URL

from storefleet.api.app import create_app
from storefleet.testing import Accounts, asgi_client, bearer, make_settings


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory, control_db: URL) -> Iterator[TestClient]:
    settings = make_settings(
        tmp_path_factory.mktemp("cap-home"), control_db, max_stores_per_account=2
    )
    with TestClient(create_app(settings, control_db), raise_server_exceptions=False) as c:
        yield c


def test_concurrent_creations_never_pass_the_store_limit(
    capped: TestClient, control_conn: psycopg.Connection
) -> None:
    owner = Accounts(capped).register()

    async def race() -> list[httpx.Response]:
        async with asgi_client(capped.app) as http:
            return await asyncio.gather(
                *(
                    http.post(
                        "/api/stores",
                        headers=bearer(owner["token"]),
                        json={"name": f"S{i}", "slug": f"race-{uuid.uuid4().hex[:10]}"},
                    )
                    for i in range(6)
                )
            )

    answers = capped.portal.call(race)  # type: ignore[union-attr]
    assert Counter(r.status_code for r in answers) == {201: 2, 403: 4}, [r.text for r in answers]
    count = control_conn.execute(
        "SELECT count(*) FROM stores WHERE owner_id = %s",
        (owner["user"]["id"],),  # type: ignore[index]
    ).fetchone()
    assert count == (2,)
