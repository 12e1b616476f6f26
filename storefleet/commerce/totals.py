"""The one place a cart's or an order's totals are computed, from server data only.

Lines are priced by ``pricing.service.unit_prices`` (a client never sends a price), discounts
come from ``promotions.engine.evaluate`` (line discounts allocated to the minor unit),
shipping from ``shipping.service.options_for`` and tax per line from ``tax.service.rates_for``
on the discounted line amount. Every amount is an integer in the currency's minor units:

    subtotal       = sum of unit_amount * quantity
    discount_total = sum of line discounts + shipping discount
    shipping_total = the chosen method's amount (before its discount)
    tax_total      = sum of line tax + tax on (shipping - shipping discount)
    total          = subtotal - discount_total + shipping_total (+ tax_total unless prices
                     include tax, in which case the tax is already inside the amounts)

The shipping options (and "free over" thresholds) see the subtotal before discounts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.catalog.models import Product, ProductImage, ProductVariant
from storefleet.commerce.pricing.service import PricingContext, UnitPrice, unit_prices
from storefleet.commerce.promotions import engine as promotions
from storefleet.commerce.promotions.engine import AppliedDiscount, PricedLine
from storefleet.commerce.shipping.service import ShippingOption, options_for
from storefleet.commerce.tax import service as tax
from storefleet.commerce.tax.service import TaxRates
from storefleet.errors import InvalidInput
from storefleet.schemas import INT32_MAX, INT64_MAX

UNAVAILABLE = "This item is not available"
# Built once: a reused statement keeps its cache key (SQLAlchemy memoizes it per object).
SELLABLE_VARIANTS = (
    select(ProductVariant, Product)
    .join(
        Product,
        (Product.store_id == ProductVariant.store_id) & (Product.id == ProductVariant.product_id),
    )
    .where(
        ProductVariant.id.in_(bindparam("ids", expanding=True)),
        ProductVariant.live(),
        Product.live(),
        Product.status == "active",
        Product.published_at.is_not(None),
        Product.published_at <= bindparam("now"),
    )
)


@dataclass(frozen=True)
class CartLine:
    variant_id: uuid.UUID
    quantity: int
    item_id: uuid.UUID | None = None


@dataclass
class LineTotals:
    item_id: uuid.UUID | None
    variant_id: uuid.UUID
    quantity: int
    available: bool
    product: Product | None = None
    variant: ProductVariant | None = None
    unit_amount: int = 0
    compare_at_amount: int | None = None
    discount_amount: int = 0
    tax_rate_bp: int = 0
    tax_amount: int = 0
    total_amount: int = 0

    @property
    def subtotal(self) -> int:
        return self.unit_amount * self.quantity

    @property
    def product_id(self) -> uuid.UUID | None:
        return self.product.id if self.product else None


@dataclass
class Totals:
    currency: str
    prices_include_tax: bool
    lines: list[LineTotals]
    subtotal: int = 0
    items_discount: int = 0
    shipping_total: int = 0
    shipping_discount: int = 0
    shipping_tax: int = 0
    shipping_tax_rate_bp: int = 0
    tax_total: int = 0
    total: int = 0
    requires_shipping: bool = False
    weight_grams: int = 0
    applied: list[AppliedDiscount] = field(default_factory=list)
    shipping_options: list[ShippingOption] = field(default_factory=list)
    shipping_option: ShippingOption | None = None

    @property
    def discount_total(self) -> int:
        return self.items_discount + self.shipping_discount

    @property
    def available_lines(self) -> list[LineTotals]:
        return [line for line in self.lines if line.available]


async def sellable_variants(
    session: AsyncSession, variant_ids: Sequence[uuid.UUID], *, at: datetime | None = None
) -> dict[uuid.UUID, tuple[ProductVariant, Product]]:
    """Live variants of active, published products, as the storefront shows them.

    Another store's ids find nothing (RLS).
    """
    if not variant_ids:
        return {}
    now = at or datetime.now(UTC)
    rows = await session.execute(SELLABLE_VARIANTS, {"ids": list(set(variant_ids)), "now": now})
    return {variant.id: (variant, product) for variant, product in rows.all()}


async def images_for(session: AsyncSession, lines: Sequence[LineTotals]) -> dict[uuid.UUID, str]:
    """The image to snapshot per variant: its own image, else the product's first."""
    product_ids = {line.product_id for line in lines if line.product_id}
    if not product_ids:
        return {}
    rows = (
        await session.execute(
            select(ProductImage)
            .where(ProductImage.product_id.in_(product_ids))
            .order_by(ProductImage.position, ProductImage.created_at)
        )
    ).scalars()
    by_variant: dict[uuid.UUID, str] = {}
    by_product: dict[uuid.UUID, str] = {}
    for image in rows:
        if image.variant_id is not None:
            by_variant.setdefault(image.variant_id, image.url)
        by_product.setdefault(image.product_id, image.url)
    out: dict[uuid.UUID, str] = {}
    for line in lines:
        url = by_variant.get(line.variant_id) or (
            by_product.get(line.product_id) if line.product_id else None
        )
        if url:
            out[line.variant_id] = url
    return out


@dataclass(frozen=True)
class Catalog:
    """What the lines' variants are and cost now: read once per request, so a change that
    checks an item (``carts.add_item``) and the totals after it share the reads."""

    sellable: dict[uuid.UUID, tuple[ProductVariant, Product]]
    prices: dict[uuid.UUID, UnitPrice]
    at: datetime


def quantities_of(lines: Sequence[CartLine]) -> dict[uuid.UUID, int]:
    quantities: dict[uuid.UUID, int] = {}
    for line in lines:
        quantities[line.variant_id] = quantities.get(line.variant_id, 0) + line.quantity
    return quantities


def country_of(*addresses: dict[str, Any] | None) -> str | None:
    return next((a.get("country") for a in addresses if a), None)


async def catalog_for(
    session: AsyncSession,
    quantities: dict[uuid.UUID, int],
    *,
    currency: str,
    country: str | None,
    customer_group: str | None = None,
) -> Catalog:
    now = datetime.now(UTC)
    sellable = await sellable_variants(session, list(quantities), at=now)
    prices = await unit_prices(
        session,
        {v: q for v, q in quantities.items() if v in sellable},
        PricingContext(currency, customer_group=customer_group, country=country, at=now),
    )
    return Catalog(sellable, prices, now)


async def compute(
    session: AsyncSession,
    *,
    currency: str,
    lines: Sequence[CartLine],
    shipping_address: dict[str, Any] | None = None,
    billing_address: dict[str, Any] | None = None,
    shipping_method_id: uuid.UUID | None = None,
    codes: Sequence[str] = (),
    email: str | None = None,
    customer_group: str | None = None,
    strict: bool = False,
    catalog: Catalog | None = None,
) -> Totals:
    """Totals of ``lines``. ``strict`` (checkout) refuses what a cart view only leaves out:
    unavailable items, unusable codes, a missing or unavailable shipping method.
    ``catalog``: the lines' variants and prices when the caller has just read them."""
    if catalog is None:
        catalog = await catalog_for(
            session,
            quantities_of(lines),
            currency=currency,
            country=country_of(shipping_address, billing_address),
            customer_group=customer_group,
        )
    sellable, prices, now = catalog.sellable, catalog.prices, catalog.at
    out: list[LineTotals] = []
    for line in lines:
        found = sellable.get(line.variant_id)
        price = prices.get(line.variant_id)
        if found is None or price is None:
            if strict:
                raise InvalidInput(UNAVAILABLE, field="variant_id", variant_id=str(line.variant_id))
            out.append(LineTotals(line.item_id, line.variant_id, line.quantity, available=False))
            continue
        variant, product = found
        out.append(
            LineTotals(
                line.item_id,
                line.variant_id,
                line.quantity,
                available=True,
                product=product,
                variant=variant,
                unit_amount=price.amount,
                compare_at_amount=price.compare_at_amount,
            )
        )
    include_tax = await tax.prices_include_tax(session)
    totals = Totals(currency=currency, prices_include_tax=include_tax, lines=out)
    priced = totals.available_lines
    totals.subtotal = sum(line.subtotal for line in priced)
    shipped = [line for line in priced if line.product and line.product.requires_shipping]
    totals.requires_shipping = bool(shipped)
    totals.weight_grams = sum(
        (line.variant.weight_grams or 0) * line.quantity for line in shipped if line.variant
    )
    if totals.requires_shipping:
        if strict and not shipping_address:
            raise InvalidInput("A shipping address is needed", field="shipping_address")
        totals.shipping_options = await options_for(
            session,
            address=shipping_address,
            currency=currency,
            subtotal=totals.subtotal,
            weight_grams=totals.weight_grams,
        )
        chosen = next(
            (o for o in totals.shipping_options if o.method_id == shipping_method_id), None
        )
        if strict and chosen is None:
            raise InvalidInput(
                "Choose one of the shipping options for this address"
                if shipping_method_id is None
                else "This shipping method is not available for this cart",
                field="shipping_method_id",
            )
        totals.shipping_option = chosen
        totals.shipping_total = chosen.amount if chosen else 0

    discounts = await promotions.evaluate(
        session,
        codes=codes,
        lines=[
            PricedLine(line.variant_id, line.product.id, line.quantity, line.unit_amount)
            for line in priced
            if line.product is not None
        ],
        shipping=totals.shipping_total,
        currency=currency,
        email=email,
        now=now,
        strict=strict,
        limit_conflict=strict,
    )
    totals.applied = discounts.applied
    totals.items_discount = discounts.items_discount
    totals.shipping_discount = discounts.shipping_discount

    tax_address = shipping_address or billing_address
    cache: dict[tuple[uuid.UUID | None, str, str, str], TaxRates] = {}
    for done, discount in zip(priced, discounts.line_discounts, strict=True):
        assert done.product is not None
        rates = await tax.rates_for(session, done.product.tax_class_id, tax_address, cache=cache)
        base = done.subtotal - discount
        done.discount_amount = discount
        done.tax_rate_bp = rates.effective_bp
        done.tax_amount = rates.tax_in_gross(base) if include_tax else rates.tax_on_net(base)
        done.total_amount = base if include_tax else base + done.tax_amount
    if totals.shipping_total:
        rates = await tax.rates_for(session, None, tax_address, cache=cache)
        base = totals.shipping_total - totals.shipping_discount
        totals.shipping_tax_rate_bp = rates.effective_bp
        totals.shipping_tax = rates.tax_in_gross(base) if include_tax else rates.tax_on_net(base)
    totals.tax_total = sum(line.tax_amount for line in priced) + totals.shipping_tax
    totals.total = totals.subtotal - totals.discount_total + totals.shipping_total
    if not include_tax:
        totals.total += totals.tax_total
    check_range(totals)
    return totals


def check_range(totals: Totals) -> None:
    """Every amount must fit its BIGINT column (and a tax rate its INTEGER one): a cart of
    many expensive lines, or stacked compound taxes, answers 422 instead of overflowing
    when the cart or the order is written."""
    amounts = [totals.subtotal, totals.discount_total, totals.shipping_total, totals.tax_total]
    amounts.append(totals.total)
    for line in totals.available_lines:
        amounts += [line.subtotal, line.discount_amount, line.tax_amount, line.total_amount]
    if any(abs(a) > INT64_MAX for a in amounts):
        raise InvalidInput(
            f"The amounts of this cart would pass {INT64_MAX} minor units, the most an "
            "order can hold: lower the quantities",
            field="items",
        )
    rates = [totals.shipping_tax_rate_bp, *(line.tax_rate_bp for line in totals.lines)]
    if any(abs(r) > INT32_MAX for r in rates):
        raise InvalidInput("The tax rates of this cart add up past a storable rate", field="items")
