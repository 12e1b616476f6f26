"""Request and response bodies of the store profile, config and storefront APIs."""

from __future__ import annotations

import json
import re
import uuid
import zoneinfo
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, StringConstraints, field_validator

from storefleet.schemas import Strict

# Active ISO 4217 currencies a store can sell in (no funds codes, metals or test codes).
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
    GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK
    MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR
    SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()
)

# ISO 3166-1 alpha-2 country codes.
COUNTRIES = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW
    GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY
    KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV
    MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG
    TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM
    ZW
    """.split()
)

TIMEZONES = frozenset(zoneinfo.available_timezones())
MAX_JSON_BYTES = 64 * 1024
THEME_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
PHONE = re.compile(r"\+?[0-9 ().\-]{3,40}")

Text120 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2048)]


def check_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    if any(c.isspace() or ord(c) < 32 for c in value):
        raise ValueError("must not contain whitespace or control characters")
    return value


def check_json_object(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_JSON_BYTES:
        raise ValueError(f"must be at most {MAX_JSON_BYTES} bytes of JSON")
    return value


REQUIRED_FIELDS = ("currency", "timezone", "settings", "published")


class ProfileUpdate(Strict):
    """Editable profile fields. ``name`` and ``slug`` belong to the control plane's
    ``PATCH /api/stores/{id}``, which keeps this record in step."""

    description: Description | None = None
    logo_url: Url | None = None
    banner_url: Url | None = None
    theme_color: str | None = None
    currency: str | None = None
    timezone: str | None = None
    settings: dict[str, Any] | None = None
    contact_email: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] | None
    ) = None
    contact_phone: str | None = None
    address_line1: Text200 | None = None
    address_line2: Text200 | None = None
    city: Text120 | None = None
    state: Text120 | None = None
    postal_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = (
        None
    )
    country: str | None = None
    website_url: Url | None = None
    published: bool | None = None

    @field_validator(*REQUIRED_FIELDS)
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may not be null")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if value not in CURRENCIES:
            raise ValueError("must be an ISO 4217 currency code such as USD or EUR")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if value not in TIMEZONES:
            raise ValueError("must be an IANA time zone such as Europe/Paris")
        return value

    @field_validator("theme_color")
    @classmethod
    def _theme_color(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not THEME_COLOR.fullmatch(value):
            raise ValueError("must be a colour like #1a2b3c")
        return value.lower()

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.upper() not in COUNTRIES:
            raise ValueError("must be an ISO 3166-1 alpha-2 country code such as US")
        return value.upper()

    @field_validator("logo_url", "banner_url", "website_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return check_url(value)

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError:
            raise ValueError("must be a valid email address") from None

    @field_validator("contact_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not PHONE.fullmatch(value) or sum(c.isdigit() for c in value) < 3:
            raise ValueError("must be a phone number (digits, spaces, + - . ( ))")
        return value

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        return check_json_object(value)


class ConfigUpdate(Strict):
    """Each object given replaces the stored one."""

    config: dict[str, Any] | None = None
    theme: dict[str, Any] | None = None
    layout: dict[str, Any] | None = None
    features: dict[str, Any] | None = None

    @field_validator("config", "theme", "layout", "features")
    @classmethod
    def _object(cls, value: dict[str, Any] | None) -> dict[str, Any]:
        if value is None:
            raise ValueError("may not be null")
        return check_json_object(value)


class StoreConfigOut(BaseModel):
    config: dict[str, Any]
    theme: dict[str, Any]
    layout: dict[str, Any]
    features: dict[str, Any]
    updated_at: datetime | None = None


class StoreProfileOut(BaseModel):
    id: uuid.UUID
    name: str
    slug: str
    description: str | None
    logo_url: str | None
    banner_url: str | None
    theme_color: str | None
    currency: str
    timezone: str
    settings: dict[str, Any]
    contact_email: str | None
    contact_phone: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    website_url: str | None
    published: bool
    published_at: datetime | None
    deployment_status: str
    created_at: datetime | None = None
    updated_at: datetime | None = None
    config: StoreConfigOut


class StorefrontStoreOut(BaseModel):
    """What any visitor may see about a store."""

    id: uuid.UUID
    name: str
    slug: str
    description: str | None
    logo_url: str | None
    banner_url: str | None
    theme_color: str | None
    currency: str
    timezone: str
    contact_email: str | None
    website_url: str | None
    published: bool
    hostname: str | None
