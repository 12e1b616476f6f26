"""The local Stripe stand-in, and the settings pointing the platform's Stripe account at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import URL

from storefleet.config import Settings
from storefleet.testing import make_settings
from tests.control.billing.stripe_server import (
    PLATFORM_KEY,
    WEBHOOK_SECRET,
    FakeStripe,
)


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture(scope="module")
def settings(
    tmp_path_factory: pytest.TempPathFactory, control_db: URL, fake_stripe: FakeStripe
) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"),
        control_db,
        stripe_secret_key=PLATFORM_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.url,
        public_base_url="https://shop.example",
    )
