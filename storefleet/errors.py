"""Domain errors: what went wrong, in words a client can act on.

Services raise these and know nothing of HTTP; ``storefleet.api.errors`` maps each class to a
status code and an RFC 9457 problem body.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"
    title = "Request failed"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class InvalidInput(DomainError):
    code = "validation-error"
    title = "Invalid input"


class BadRequest(DomainError):
    code = "bad-request"
    title = "Bad request"


class Locked(DomainError):
    code = "locked"
    title = "Locked"


class PaymentRequired(DomainError):
    code = "payment-required"
    title = "Payment required"


class NotFound(DomainError):
    code = "not-found"
    title = "Not found"


class Conflict(DomainError):
    code = "conflict"
    title = "Conflict"


class AuthenticationFailed(DomainError):
    code = "unauthorized"
    title = "Authentication required"


class PermissionDenied(DomainError):
    code = "forbidden"
    title = "Forbidden"


class RateLimited(DomainError):
    code = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = max(1, int(retry_after))


class ServiceUnavailable(DomainError):
    code = "unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str, *, retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = retry_after
