"""Which public catalog reads ``api.fastpath`` may answer itself, and with what arguments.

FastAPI validates a catalog route's query parameters (``commerce.catalog.storefront``) and
answers a doubtful one with its own 422. To keep those answers exactly as they are, the fast
path takes a request only when every parameter is one its route knows, given once, and
plainly valid (canonical digits in range, an upper-case code the same check accepts, a
search text of the allowed length with nothing ``api.parameters`` refuses); anything else
goes to the app. The reads are the routes' own (``storefront_reads``), so a request taken
here gets the bytes the routed path would have sent.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from storefleet.commerce.catalog import storefront_reads as reads
from storefleet.commerce.money import is_currency
from storefleet.schemas import text_problem
from storefleet.tenancy.scope import StoreScope

PREFIX = "/api/storefront"
Parameters = dict[str, Any]
Read = Callable[[StoreScope, str, Parameters], Awaitable[bytes]]

_CANONICAL_NUMBER = re.compile(r"0|[1-9][0-9]{0,5}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_CURRENCY = re.compile(r"[A-Z]{3}")


def _number(low: int, high: int) -> Callable[[str], int | None]:
    def checked(value: str) -> int | None:
        if not _CANONICAL_NUMBER.fullmatch(value):
            return None
        number = int(value)
        return number if low <= number <= high else None

    return checked


def _currency(value: str) -> str | None:
    return value if _CURRENCY.fullmatch(value) and is_currency(value) else None


def _country(value: str) -> str | None:
    return value if _COUNTRY.fullmatch(value) else None


def _search_text(value: str) -> str | None:
    return value if 1 <= len(value) <= 200 and text_problem(value) is None else None


_CHECKS: dict[str, Callable[[str], Any]] = {
    "limit": _number(1, 100),
    "offset": _number(0, 100_000),
    "currency": _currency,
    "country": _country,
    "q": _search_text,
}


@dataclass(frozen=True)
class CatalogRoute:
    """A catalog route as the fast path serves it; ``path`` is the template metering reads."""

    path: str
    parameters: frozenset[str]
    read: Read
    required: frozenset[str] = frozenset()

    def arguments(self, raw_query: bytes) -> Parameters | None:
        """The parsed parameters when all are known, single and plainly valid, else None."""
        found: Parameters = {}
        for name, value in parse_qsl(raw_query.decode("latin-1"), keep_blank_values=True):
            if name not in self.parameters or name in found:
                return None
            checked = _CHECKS[name](value)
            if checked is None:
                return None
            found[name] = checked
        return found if self.required <= found.keys() else None


def _page(scope: StoreScope, args: Parameters, **where: str) -> Awaitable[bytes]:
    return reads.product_page(
        scope,
        currency=args.get("currency"),
        country=args.get("country"),
        limit=args.get("limit", 20),
        offset=args.get("offset", 0),
        **where,
    )


def _products(scope: StoreScope, slug: str, args: Parameters) -> Awaitable[bytes]:
    return _page(scope, args)


def _product(scope: StoreScope, slug: str, args: Parameters) -> Awaitable[bytes]:
    return reads.product(scope, slug, currency=args.get("currency"), country=args.get("country"))


def _categories(scope: StoreScope, slug: str, args: Parameters) -> Awaitable[bytes]:
    return reads.category_tree(scope)


def _category_products(scope: StoreScope, slug: str, args: Parameters) -> Awaitable[bytes]:
    return _page(scope, args, category=slug)


def _search(scope: StoreScope, slug: str, args: Parameters) -> Awaitable[bytes]:
    return _page(scope, args, q=args["q"])


_PAGE = frozenset({"currency", "country", "limit", "offset"})
PRODUCTS = CatalogRoute(PREFIX + "/products", _PAGE, _products)
PRODUCT = CatalogRoute(PREFIX + "/products/{slug}", frozenset({"currency", "country"}), _product)
CATEGORIES = CatalogRoute(PREFIX + "/categories", frozenset(), _categories)
CATEGORY_PRODUCTS = CatalogRoute(PREFIX + "/categories/{slug}/products", _PAGE, _category_products)
SEARCH = CatalogRoute(PREFIX + "/search", _PAGE | {"q"}, _search, required=frozenset({"q"}))
_EXACT = {route.path: route for route in (PRODUCTS, CATEGORIES, SEARCH)}
_PRODUCT_PREFIX = PREFIX + "/products/"
_CATEGORY_PREFIX = PREFIX + "/categories/"
_CATEGORY_SUFFIX = "/products"


def catalog_route(path: str) -> tuple[CatalogRoute, str] | None:
    """The route and path slug (``""`` when it has none) that ``path`` matches exactly."""
    route = _EXACT.get(path)
    if route is not None:
        return route, ""
    if path.startswith(_PRODUCT_PREFIX):
        route, slug = PRODUCT, path[len(_PRODUCT_PREFIX) :]
    elif path.startswith(_CATEGORY_PREFIX) and path.endswith(_CATEGORY_SUFFIX):
        route, slug = CATEGORY_PRODUCTS, path[len(_CATEGORY_PREFIX) : -len(_CATEGORY_SUFFIX)]
    else:
        return None
    if not slug or "/" in slug or text_problem(slug) is not None:
        return None
    return route, slug
