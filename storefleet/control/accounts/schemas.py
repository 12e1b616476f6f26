"""Request and response bodies of the auth API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from storefleet.schemas import Strict
from storefleet.security.passwords import WeakPasswordError, check_strength

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ()./-]{4,32}$")]


def _http_url(value: str) -> str:
    if not value.startswith(("https://", "http://")) or len(value) > 2048 or " " in value:
        raise ValueError("must be an http(s) URL of at most 2048 characters")
    return value


AvatarURL = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_http_url)]
Company = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class RegisterIn(Strict):
    email: EmailStr
    password: Password
    first_name: Name
    last_name: Name

    @field_validator("password")
    @classmethod
    def _strong_password(cls, value: str, info: ValidationInfo) -> str:
        email = info.data.get("email")
        try:
            check_strength(value, email=str(email) if email else None)
        except WeakPasswordError as exc:
            raise ValueError(str(exc)) from None
        return value


class LoginIn(Strict):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320)]
    password: Password


class PasswordChangeIn(Strict):
    current_password: Password
    new_password: Password


class ProfilePatch(Strict):
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Phone | None = None
    avatar_url: AvatarURL | None = None
    company: Company | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ProfilePatch:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for name in ("first_name", "last_name"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    first_name: str
    last_name: str
    account_type: str
    phone: str | None = None
    avatar_url: str | None = None
    company: str | None = None
    email_verified: bool = False
    created_at: datetime | None = None
    last_login_at: datetime | None = None


class AuthOut(BaseModel):
    token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int = Field(description="seconds until the token expires")
    user: UserOut
