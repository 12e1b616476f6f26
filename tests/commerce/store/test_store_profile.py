"""The tenant store profile and config: round trips, validation, registry renames, storefront."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from storefleet.testing import PLACEMENTS, Accounts, Stores, bearer

VALID = {
    "description": "Hand-made things",
    "logo_url": "https://cdn.example.com/logo.png",
    "banner_url": "http://cdn.example.com/banner.jpg",
    "theme_color": "#AABBCC",
    "currency": "EUR",
    "timezone": "Europe/Paris",
    "settings": {"checkout": {"guest": True}, "tags": ["a", "b"]},
    "contact_email": "Hello@Example.com",
    "contact_phone": "+33 1 23 45 67 89",
    "address_line1": "1 rue de la Paix",
    "city": "Paris",
    "postal_code": "75002",
    "country": "fr",
    "website_url": "https://shop.example.com/",
}

INVALID = {
    "currency": "eur",
    "timezone": "Mars/Olympus",
    "theme_color": "red",
    "country": "XX",
    "logo_url": "javascript:alert(1)",
    "website_url": "ftp://example.com",
    "contact_email": "not-an-email",
    "contact_phone": "call me",
    "settings": ["not", "an", "object"],
    "published": None,
    "description": "x" * 5001,
}


def profile_url(store: dict[str, object]) -> str:
    return f"/api/stores/{store['id']}/profile"


def fields(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["field"] for e in response.json()["errors"]]


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_profile_round_trip(client: TestClient, stores: Stores, placement: str) -> None:
    store = stores.create(placement, publish=False)
    url, headers = profile_url(store), store["headers"]
    initial = client.get(url, headers=headers)
    assert initial.status_code == 200, initial.text
    body = initial.json()
    assert (body["id"], body["name"], body["slug"]) == (store["id"], store["name"], store["slug"])
    assert (body["currency"], body["timezone"], body["published"]) == ("USD", "UTC", False)
    assert body["config"] == {
        "config": {}, "theme": {}, "layout": {}, "features": {},
        "updated_at": body["config"]["updated_at"],
    }  # fmt: skip

    patched = client.patch(url, headers=headers, json={**VALID, "published": True})
    assert patched.status_code == 200, patched.text
    again = client.get(url, headers=headers).json()
    assert again == patched.json()
    expected = {**VALID, "theme_color": "#aabbcc", "country": "FR"}
    expected["contact_email"] = "Hello@example.com"
    assert {k: again[k] for k in expected} == expected
    assert again["published"] is True and again["published_at"] is not None

    # Publishing again keeps the first publication time; unpublishing clears it.
    first_published = again["published_at"]
    assert (
        client.patch(url, headers=headers, json={"published": True}).json()["published_at"]
        == first_published
    )
    unpublished = client.patch(url, headers=headers, json={"published": False}).json()
    assert (unpublished["published"], unpublished["published_at"]) == (False, None)
    cleared = client.patch(url, headers=headers, json={"description": None, "country": None})
    assert (cleared.json()["description"], cleared.json()["country"]) == (None, None)
    assert cleared.json()["currency"] == "EUR"  # untouched fields stay


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_invalid_profile_changes_nothing(
    client: TestClient, stores: Stores, placement: str
) -> None:
    store = stores.create(placement)
    url, headers = profile_url(store), store["headers"]
    before = client.get(url, headers=headers).json()
    for name, value in INVALID.items():
        response = client.patch(url, headers=headers, json={"city": "Lyon", name: value})
        assert response.status_code == 422, (name, response.text)
        assert fields(response) == [name], name
    for extra in ({"name": "Renamed"}, {"slug": "renamed"}, {"store_id": store["id"]},
                  {"deployment_status": "live"}, {"published_at": None}):  # fmt: skip
        response = client.patch(url, headers=headers, json=extra)
        assert response.status_code == 422, (extra, response.text)
        assert fields(response) == list(extra)
    big = {"settings": {"blob": "x" * (65 * 1024)}}
    response = client.patch(url, headers=headers, json=big)
    assert response.status_code == 422 and fields(response) == ["settings"]
    assert client.get(url, headers=headers).json() == before


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_config_patch(client: TestClient, stores: Stores, placement: str) -> None:
    store = stores.create(placement)
    config_url, headers = f"/api/stores/{store['id']}/config", store["headers"]
    response = client.patch(
        config_url, headers=headers, json={"theme": {"font": "Inter"}, "features": {"blog": True}}
    )
    assert response.status_code == 200, response.text
    assert response.json()["theme"] == {"font": "Inter"}
    response = client.patch(config_url, headers=headers, json={"layout": {"home": ["hero"]}})
    assert response.status_code == 200
    config = client.get(profile_url(store), headers=headers).json()["config"]
    assert (config["theme"], config["layout"], config["features"], config["config"]) == (
        {"font": "Inter"}, {"home": ["hero"]}, {"blog": True}, {},
    )  # fmt: skip
    for bad in ({"theme": [1, 2]}, {"config": None}, {"colours": {}}, {"layout": "grid"}):
        response = client.patch(config_url, headers=headers, json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert fields(response) == list(bad)
    after = client.get(profile_url(store), headers=headers).json()["config"]
    assert after == config


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_registry_rename_reaches_profile_and_storefront(
    client: TestClient, stores: Stores, placement: str
) -> None:
    store = stores.create(placement)
    headers = store["headers"]
    slug = f"renamed-{store['slug']}"[:63].rstrip("-")
    response = client.patch(
        f"/api/stores/{store['id']}", headers=headers, json={"name": "Renamed Shop", "slug": slug}
    )
    assert response.status_code == 200, response.text
    profile = client.get(profile_url(store), headers=headers).json()
    assert (profile["name"], profile["slug"]) == ("Renamed Shop", slug)
    client.patch(profile_url(store), headers=headers, json={"description": "Public words"})
    public = client.get("/api/storefront/store", headers={"X-Store-Id": str(store["id"])})
    assert public.status_code == 200
    body = public.json()
    assert (body["name"], body["slug"], body["description"]) == (
        "Renamed Shop", slug, "Public words",
    )  # fmt: skip
    assert "settings" not in body and "contact_phone" not in body


def test_other_accounts_cannot_see_or_edit(
    client: TestClient, stores: Stores, accounts: Accounts
) -> None:
    store = stores.create("pool")
    stranger = bearer(accounts.register()["token"])
    assert client.get(profile_url(store), headers=stranger).status_code == 404
    response = client.patch(profile_url(store), headers=stranger, json={"description": "hacked"})
    assert response.status_code == 404
    response = client.patch(
        f"/api/stores/{store['id']}/config", headers=stranger, json={"theme": {"x": 1}}
    )
    assert response.status_code == 404
    assert client.get(profile_url(store)).status_code == 401
    assert client.get(profile_url(store), headers=store["headers"]).json()["description"] is None
