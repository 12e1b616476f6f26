"""What a customer would be emailed about their account. Until email sending exists, a log line.

This is the only place a raw verification token leaves the process. In ``development`` and
``test`` the token is logged (logger ``storefleet.commerce.customers.notices``, INFO, with the
token also in the record's ``verification_token`` attribute, which tests read through
``caplog``); in ``production`` the line says only that a notice is due, without the token or
the address, because logs are read by more people than the mailbox owner.
"""

from __future__ import annotations

import logging
import uuid

from storefleet.config import Settings

log = logging.getLogger(__name__)

VERIFY_ROUTE = "/api/storefront/customers/verify-email"


def _shows_secrets(settings: Settings) -> bool:
    return settings.environment in ("development", "test")


def verification_issued(
    settings: Settings, *, store_id: uuid.UUID, user_id: uuid.UUID, email: str, token: str
) -> None:
    """Would mail the link that proves ``email``; the token is single use and expires."""
    if not _shows_secrets(settings):
        log.info(
            "email verification due for customer %s of store %s (email delivery not configured)",
            user_id,
            store_id,
        )
        return
    log.info(
        "verify %s at store %s: POST %s%s {token: %s, password}",
        email,
        store_id,
        settings.public_base_url,
        VERIFY_ROUTE,
        token,
        extra={"verification_token": token, "store_id": str(store_id), "email": email},
    )


def registration_attempted(settings: Settings, *, store_id: uuid.UUID, email: str) -> None:
    """Would tell an existing account's owner that someone tried to sign up with the address."""
    if not _shows_secrets(settings):
        log.info("sign-up notice due for an existing user of store %s", store_id)
        return
    log.info(
        "sign-up attempted for existing %s at store %s (its account is unchanged)",
        email,
        store_id,
        extra={"store_id": str(store_id), "email": email},
    )
