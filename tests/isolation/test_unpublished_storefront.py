"""An unpublished store's storefront is 404 to everyone but its own owner and staff."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from storefleet.testing import PLACEMENTS, Stores, bearer
from tests.isolation.attack import STAFF_PASSWORD, staff_login

FRONT = ("/api/storefront/store", "/api/storefront/products", "/api/storefront/categories")


def _add_staff(client: TestClient, store: dict, email: str) -> dict[str, str]:
    body = {"email": email, "first_name": "S", "last_name": "T", "role": "staff",
            "password": STAFF_PASSWORD}  # fmt: skip
    added = client.post(f"/api/stores/{store['id']}/staff", headers=store["headers"], json=body)
    assert added.status_code == 201, added.text
    return staff_login(client, str(store["id"]), email)


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_unpublished_storefront_is_hidden_until_launch(
    client: TestClient, stores: Stores, placement: str
) -> None:
    store = stores.create(placement, publish=False)
    other = stores.create(placement)
    where = {"X-Store-Id": str(store["id"])}
    staff = _add_staff(client, store, f"preview-{store['slug']}@example.com")
    other_staff = _add_staff(client, other, f"preview-{other['slug']}@example.com")

    for path in FRONT:
        assert client.get(path, headers=where).status_code == 404, path
        # Another store's owner or staff see nothing either.
        assert client.get(path, headers={**where, **other["headers"]}).status_code == 404
        assert client.get(path, headers={**where, **other_staff}).status_code in (400, 404)
        # Its own owner and staff preview it (positive controls).
        assert client.get(path, headers={**where, **store["headers"]}).status_code == 200, path
        assert client.get(path, headers={**where, **staff}).status_code == 200, path

    # A logged-out owner token no longer previews.
    login = client.post(
        "/api/auth/login",
        json={"email": store["owner"]["user"]["email"], "password": store["owner"]["password"]},  # type: ignore[index]
    )
    token = bearer(login.json()["token"])
    assert client.get(FRONT[0], headers={**where, **token}).status_code == 200
    assert client.post("/api/auth/logout", headers=token).status_code == 204
    assert client.get(FRONT[0], headers={**where, **token}).status_code in (401, 404)

    profile = f"/api/stores/{store['id']}/profile"
    assert (
        client.patch(profile, headers=store["headers"], json={"published": True}).status_code == 200
    )
    for path in FRONT:
        assert client.get(path, headers=where).status_code == 200, path
    assert (
        client.patch(profile, headers=store["headers"], json={"published": False}).status_code
        == 200
    )
    assert client.get(FRONT[0], headers=where).status_code == 404
