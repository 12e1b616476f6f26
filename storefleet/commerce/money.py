"""Money: integer amounts in a currency's minor units, and every rounding rule in one place.

Amounts never become floats. Percentages are basis points (1/100 of a percent): 19% is 1900,
12.5% is 1250. Rounding is half-up on the minor unit, the rule most tax authorities use.
"""

from __future__ import annotations

from collections.abc import Sequence

# ISO 4217 minor-unit exponents for the currencies a store can enable.
EXPONENTS: dict[str, int] = {
    "AED": 2, "ARS": 2, "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0,
    "CNY": 2, "COP": 2, "CZK": 2, "DKK": 2, "EGP": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2,
    "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "MAD": 2,
    "MXN": 2, "MYR": 2, "NGN": 2, "NOK": 2, "NZD": 2, "OMR": 3, "PHP": 2, "PKR": 2, "PLN": 2,
    "QAR": 2, "RON": 2, "RSD": 2, "SAR": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2,
    "TWD": 2, "UAH": 2, "USD": 2, "VND": 0, "ZAR": 2,
}  # fmt: skip

BASIS_POINTS = 10_000


class UnknownCurrency(ValueError):
    pass


def exponent(currency: str) -> int:
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise UnknownCurrency(f"unsupported currency {currency!r}") from None


def is_currency(code: str) -> bool:
    return code in EXPONENTS


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in integers only."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return sign * q


def percent_of(amount: int, basis_points: int) -> int:
    """``amount * basis_points`` / 10 000, rounded half-up."""
    return round_half_up(amount * basis_points, BASIS_POINTS)


def tax_included(gross: int, rate_bp: int) -> int:
    """The tax inside a tax-inclusive ``gross`` amount at ``rate_bp``."""
    return gross - round_half_up(gross * BASIS_POINTS, BASIS_POINTS + rate_bp)


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` so the parts add up exactly.

    Largest-remainder method: a discount spread over order lines never gains or loses a
    minor unit to rounding.
    """
    if not weights:
        return []
    weight_sum = sum(weights)
    if weight_sum <= 0:
        parts = [0] * len(weights)
        parts[0] = total
        return parts
    raw = [(total * w) // weight_sum for w in weights]
    remainders = [(total * w) % weight_sum for w in weights]
    short = total - sum(raw)
    for i in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:short]:
        raw[i] += 1
    return raw


def format_amount(amount: int, currency: str) -> str:
    """``1234, 'EUR'`` → ``'12.34 EUR'`` (for messages, never for arithmetic)."""
    exp = exponent(currency)
    if exp == 0:
        return f"{amount} {currency}"
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d} {currency}"
