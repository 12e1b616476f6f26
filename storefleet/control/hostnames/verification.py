"""Proof of control over a hostname: a DNS TXT record ``_storefleet.<host>`` with our token.

The lookup uses dnspython's asyncio resolver, pointed at the nameservers from settings (the
system's when none are set), so tests run it against a real DNS server on localhost. Every
outcome is a ``Proof`` that says what was found and what is expected; nothing here raises
for a failed check.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

import dns.asyncresolver
import dns.exception
import dns.name
import dns.resolver

from storefleet.config import Settings

RECORD_PREFIX = "_storefleet"
VALUE_PREFIX = "storefleet-verify="
MAX_REPORTED_VALUES = 10
MAX_REPORTED_LENGTH = 255

# RFC 2606 / RFC 6761 names nobody can own: in development and test a claim under one of
# them is verified at once (``Settings.test_domains_verified``).
TEST_DOMAINS = (
    "localhost",
    "test",
    "example",
    "invalid",
    "example.com",
    "example.org",
    "example.net",
)

Outcome = Literal["verified", "nxdomain", "no-record", "mismatch", "timeout", "dns-error"]


def new_token() -> str:
    return secrets.token_urlsafe(24)


def record_name(hostname: str) -> str:
    return f"{RECORD_PREFIX}.{hostname}"


def record_value(token: str) -> str:
    return VALUE_PREFIX + token


def is_under(hostname: str, domains: frozenset[str] | tuple[str, ...]) -> bool:
    """``hostname`` is one of ``domains`` or a name under one of them."""
    return any(hostname == d or hostname.endswith("." + d) for d in domains)


def is_test_domain(hostname: str) -> bool:
    return is_under(hostname, TEST_DOMAINS)


@dataclass(frozen=True)
class Proof:
    """What one lookup of a hostname's verification record found."""

    outcome: Outcome
    record_name: str
    expected: str
    found: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome == "verified"

    @property
    def detail(self) -> str:
        where = f"TXT {self.record_name}"
        if self.outcome == "verified":
            return f"{where} holds the expected value"
        if self.outcome == "nxdomain":
            return f"{where} does not exist (NXDOMAIN); create it with the value {self.expected}"
        if self.outcome == "no-record":
            return f"{where} exists but has no TXT record; add one with the value {self.expected}"
        if self.outcome == "mismatch":
            return f"{where} holds {list(self.found)} but not the expected value {self.expected}"
        if self.outcome == "timeout":
            return (
                f"the DNS lookup of {where} timed out; check that the domain's name servers "
                "answer, then verify again"
            )
        return f"the DNS lookup of {where} failed (no name server answered); verify again later"


def txt_values(answer: dns.resolver.Answer) -> list[str]:
    """Each TXT record as one string (its character-strings joined, as RFC 7208 reads them)."""
    values = []
    for rdata in answer:
        joined = b"".join(rdata.strings).decode("utf-8", "replace")
        values.append(joined.strip())
    return values


class DnsVerifier:
    """Looks up verification records with the nameservers, port and timeout from settings."""

    def __init__(
        self, nameservers: list[str] | None = None, *, port: int = 53, timeout: float = 5.0
    ) -> None:
        self.nameservers = list(nameservers or [])
        self.port = port
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> DnsVerifier:
        return cls(
            settings.hostname_dns_nameservers,
            port=settings.hostname_dns_port,
            timeout=settings.hostname_dns_timeout_seconds,
        )

    def resolver(self) -> dns.asyncresolver.Resolver:
        if self.nameservers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = self.nameservers
        else:
            resolver = dns.asyncresolver.Resolver()
        resolver.port = self.port
        resolver.timeout = self.timeout
        resolver.lifetime = self.timeout
        resolver.cache = None
        return resolver

    async def check(self, hostname: str, token: str) -> Proof:
        name = record_name(hostname)
        expected = record_value(token)

        def proof(outcome: Outcome, found: tuple[str, ...] = ()) -> Proof:
            return Proof(outcome, name, expected, found)

        try:
            resolver = self.resolver()
            answer = await resolver.resolve(
                dns.name.from_text(name), "TXT", search=False, raise_on_no_answer=True
            )
        except dns.resolver.NXDOMAIN:
            return proof("nxdomain")
        except dns.resolver.NoAnswer:
            return proof("no-record")
        except dns.exception.Timeout:
            return proof("timeout")
        except (dns.exception.DNSException, OSError):
            return proof("dns-error")
        values = txt_values(answer)
        if expected in values:
            return proof("verified")
        shown = tuple(v[:MAX_REPORTED_LENGTH] for v in sorted(values)[:MAX_REPORTED_VALUES])
        return proof("mismatch", shown)
