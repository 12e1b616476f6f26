"""Storefront carts: the cart token is the bearer of the cart. No HTTP here.

A cart is found by its token inside the store's tenant session, so another store's token is
invisible (RLS) and answers 404 like a typo. Every change locks the cart row first, so a
change and a checkout of the same cart never interleave; a converted or expired cart refuses
changes (409) and stays as it was.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce import totals as totals_engine
from storefleet.commerce.carts.models import Cart, CartItem
from storefleet.commerce.carts.schemas import (
    MAX_LINE_QUANTITY,
    AppliedDiscountOut,
    CartLineOut,
    CartOut,
)
from storefleet.commerce.customers.models import Customer
from storefleet.commerce.pricing.models import CurrencySetting
from storefleet.commerce.promotions import engine as promotions
from storefleet.commerce.totals import CartLine, Catalog, Totals
from storefleet.db.ids import uuid7
from storefleet.db.queries import get_or_404
from storefleet.errors import AuthenticationFailed, Conflict, InvalidInput, NotFound

CART_TTL = timedelta(days=7)
CART_NOT_FOUND = "Cart not found"
ITEM_NOT_FOUND = "Cart item not found"
MAX_ITEMS = 100
MAX_CODES = 5
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,128}")
# Built once: a reused statement keeps its cache key (SQLAlchemy memoizes it per object).
CART_BY_TOKEN = select(Cart).where(Cart.token == bindparam("token"))
CART_BY_TOKEN_LOCKED = CART_BY_TOKEN.with_for_update()
ITEMS_OF_CART = (
    select(CartItem)
    .where(CartItem.cart_id == bindparam("cart_id"))
    .order_by(CartItem.created_at, CartItem.id)
)


def new_token() -> str:
    """32 random bytes, URL-safe: the cart's only credential."""
    return secrets.token_urlsafe(32)


def is_expired(cart: Cart, now: datetime | None = None) -> bool:
    return cart.status == "expired" or (
        cart.status == "active" and cart.expires_at <= (now or datetime.now(UTC))
    )


def shown_status(cart: Cart) -> str:
    return "expired" if is_expired(cart) else cart.status


async def load_customer(
    session: AsyncSession, store_id: uuid.UUID, customer_id: uuid.UUID | None
) -> Customer | None:
    """The signed-in customer's row (the token was checked by ``current_customer``)."""
    if customer_id is None:
        return None
    customer = await session.get(Customer, (store_id, customer_id))
    if customer is None or customer.deleted_at is not None:
        raise AuthenticationFailed("Token is no longer valid")
    return customer


async def create_cart(
    session: AsyncSession,
    store_id: uuid.UUID,
    *,
    currency: str | None,
    customer: Customer | None,
) -> Cart:
    currency = await cart_currency(session, currency)
    cart = Cart(
        id=uuid7(),
        store_id=store_id,
        token=new_token(),
        currency=currency,
        customer_id=customer.id if customer else None,
        email=customer.email if customer else None,
        applied_codes=[],
        status="active",
        expires_at=datetime.now(UTC) + CART_TTL,
    )
    session.add(cart)  # written with its totals by ``refresh``
    return cart


async def cart_currency(session: AsyncSession, currency: str | None) -> str:
    """``currency`` if the store has enabled it, else (None) the store's default: one read."""
    rows = (
        await session.execute(
            select(CurrencySetting.code, CurrencySetting.is_default, CurrencySetting.is_enabled)
        )
    ).all()
    if currency is None:
        currency = next((code for code, is_default, _ in rows if is_default), None)
        if currency is None:
            raise InvalidInput("The store has no default currency", field="currency")
    enabled = {code for code, _, is_enabled in rows if is_enabled}
    if currency not in enabled:
        raise InvalidInput(
            f"currency {currency} is not enabled for this store"
            + (f" (enabled: {', '.join(sorted(enabled))})" if enabled else ""),
            field="currency",
        )
    return currency


async def get_cart(session: AsyncSession, token: str, *, lock: bool = False) -> Cart:
    if not TOKEN_PATTERN.fullmatch(token):
        raise NotFound(CART_NOT_FOUND)
    query = CART_BY_TOKEN_LOCKED if lock else CART_BY_TOKEN
    cart = (await session.execute(query, {"token": token})).scalar_one_or_none()
    if cart is None:
        raise NotFound(CART_NOT_FOUND)
    return cart


def require_open(cart: Cart) -> None:
    """A converted or expired cart is read-only: 409 with the reason, nothing changes."""
    if cart.status == "converted":
        raise Conflict("This cart has been checked out", field="token", order_id=str(cart.order_id))
    if is_expired(cart):
        raise Conflict("This cart has expired", field="token")
    if cart.status != "active":
        raise Conflict(f"This cart is {cart.status}", field="token")


async def open_cart(session: AsyncSession, token: str) -> Cart:
    cart = await get_cart(session, token, lock=True)
    require_open(cart)
    return cart


async def items_of(session: AsyncSession, cart: Cart) -> list[CartItem]:
    rows = await session.execute(ITEMS_OF_CART, {"cart_id": cart.id})
    return list(rows.scalars())


async def totals_of(
    session: AsyncSession,
    cart: Cart,
    items: list[CartItem] | None = None,
    *,
    strict: bool = False,
    shipping_method_id: uuid.UUID | None = None,
    catalog: Catalog | None = None,
) -> Totals:
    if items is None:
        items = await items_of(session, cart)
    return await totals_engine.compute(
        session,
        currency=cart.currency,
        lines=[CartLine(i.variant_id, i.quantity, i.id) for i in items],
        shipping_address=cart.shipping_address,
        billing_address=cart.billing_address,
        shipping_method_id=shipping_method_id or cart.shipping_method_id,
        codes=list(cart.applied_codes or []),
        email=cart.email,
        strict=strict,
        catalog=catalog,
    )


def cache_totals(cart: Cart, totals: Totals) -> None:
    """Cached for listings and abandoned-cart reports; checkout always recomputes."""
    cart.subtotal = totals.subtotal
    cart.discount_total = totals.discount_total
    cart.shipping_total = totals.shipping_total
    cart.tax_total = totals.tax_total
    cart.total = totals.total
    cart.updated_at = datetime.now(UTC)


async def refresh(
    session: AsyncSession,
    cart: Cart,
    items: list[CartItem] | None = None,
    *,
    catalog: Catalog | None = None,
) -> Totals:
    """Totals of the cart as changed in the session (``items``: its lines, when the caller
    has them), then ONE flush: the change and the cached totals go out together."""
    with session.no_autoflush:
        totals = await totals_of(session, cart, items, catalog=catalog)
    cache_totals(cart, totals)
    await session.flush()
    return totals


async def add_item(
    session: AsyncSession, cart: Cart, variant_id: uuid.UUID, quantity: int
) -> tuple[list[CartItem], Catalog]:
    """Only a live variant of an active product with a price in the cart's currency.

    Nothing is flushed: the cart's items after the change and the catalog read to check it
    go to ``refresh``, which prices the cart from the same reads."""
    items = await items_of(session, cart)
    existing = next((i for i in items if i.variant_id == variant_id), None)
    new_quantity = quantity + (existing.quantity if existing else 0)
    quantities = totals_engine.quantities_of(
        [CartLine(i.variant_id, i.quantity) for i in items if i is not existing]
    )
    quantities[variant_id] = new_quantity
    catalog = await totals_engine.catalog_for(
        session,
        quantities,
        currency=cart.currency,
        country=totals_engine.country_of(cart.shipping_address, cart.billing_address),
    )
    if variant_id not in catalog.sellable:
        raise InvalidInput(totals_engine.UNAVAILABLE, field="variant_id")
    if new_quantity > MAX_LINE_QUANTITY:
        raise InvalidInput(f"At most {MAX_LINE_QUANTITY} of one item", field="quantity")
    price = catalog.prices.get(variant_id)
    if price is None:
        raise InvalidInput(f"This item is not sold in {cart.currency}", field="variant_id")
    if existing is not None:
        existing.quantity = new_quantity
        existing.unit_amount = price.amount
        return items, catalog
    if len(items) >= MAX_ITEMS:
        raise InvalidInput(f"A cart holds at most {MAX_ITEMS} items", field="variant_id")
    item = CartItem(
        id=uuid7(),
        store_id=cart.store_id,
        cart_id=cart.id,
        variant_id=variant_id,
        quantity=new_quantity,
        unit_amount=price.amount,
    )
    session.add(item)
    return [*items, item], catalog


async def _item(session: AsyncSession, cart: Cart, item_id: uuid.UUID) -> CartItem:
    return await get_or_404(
        session, CartItem, item_id, missing=ITEM_NOT_FOUND, where=[CartItem.cart_id == cart.id]
    )


async def update_item(session: AsyncSession, cart: Cart, item_id: uuid.UUID, quantity: int) -> None:
    item = await _item(session, cart, item_id)
    if quantity == 0:
        await session.delete(item)
    else:
        item.quantity = quantity
    await session.flush()


async def remove_item(session: AsyncSession, cart: Cart, item_id: uuid.UUID) -> None:
    await session.delete(await _item(session, cart, item_id))
    await session.flush()


async def add_code(session: AsyncSession, cart: Cart, code: str) -> None:
    """A code of this store that the cart can use now; stored as the store wrote it."""
    totals = await totals_of(session, cart)
    found = await promotions.check_code(
        session, code, subtotal=totals.subtotal, currency=cart.currency
    )
    codes = list(cart.applied_codes or [])
    if any(c.lower() == found.code.lower() for c in codes):
        return
    if len(codes) >= MAX_CODES:
        raise InvalidInput(f"At most {MAX_CODES} codes per cart", field="code")
    cart.applied_codes = [*codes, found.code]
    await session.flush()


async def remove_code(session: AsyncSession, cart: Cart, code: str) -> None:
    codes = list(cart.applied_codes or [])
    kept = [c for c in codes if c.lower() != code.strip().lower()]
    if len(kept) == len(codes):
        raise NotFound("This code is not applied to the cart", field="code")
    cart.applied_codes = kept
    await session.flush()


async def set_addresses(
    session: AsyncSession,
    cart: Cart,
    *,
    email: str,
    shipping_address: dict[str, Any],
    billing_address: dict[str, Any] | None,
) -> None:
    """Flushed with the totals by ``refresh``."""
    cart.email = email
    cart.shipping_address = shipping_address
    cart.billing_address = billing_address


async def set_shipping_method(session: AsyncSession, cart: Cart, method_id: uuid.UUID) -> Totals:
    """The method must be one of the cart's options now (422 naming shipping_method_id)."""
    totals = await totals_of(session, cart, shipping_method_id=method_id)
    if not totals.requires_shipping:
        raise InvalidInput("Nothing in this cart needs shipping", field="shipping_method_id")
    if totals.shipping_option is None:
        raise InvalidInput(
            "This shipping method is not available for this cart", field="shipping_method_id"
        )
    cart.shipping_method_id = method_id
    cache_totals(cart, totals)
    await session.flush()
    return totals


def cart_out(cart: Cart, totals: Totals) -> CartOut:
    lines = []
    for line in totals.lines:
        lines.append(
            CartLineOut(
                id=line.item_id,
                variant_id=line.variant_id,
                product_id=line.product_id,
                product_name=line.product.name if line.product else None,
                variant_title=line.variant.title if line.variant else None,
                sku=line.variant.sku if line.variant else None,
                quantity=line.quantity,
                available=line.available,
                unit_amount=line.unit_amount,
                compare_at_amount=line.compare_at_amount,
                subtotal=line.subtotal,
                discount_amount=line.discount_amount,
                tax_rate_bp=line.tax_rate_bp,
                tax_amount=line.tax_amount,
                total_amount=line.total_amount,
            )
        )
    return CartOut(
        token=cart.token,
        status=shown_status(cart),
        currency=cart.currency,
        email=cart.email,
        customer_id=cart.customer_id,
        shipping_address=cart.shipping_address,
        billing_address=cart.billing_address,
        shipping_method_id=(
            totals.shipping_option.method_id if totals.shipping_option else cart.shipping_method_id
        ),
        codes=list(cart.applied_codes or []),
        items=lines,
        discounts=[
            AppliedDiscountOut(
                discount_id=d.discount_id, code=d.code, name=d.name, kind=d.kind, amount=d.amount
            )
            for d in totals.applied
        ],
        prices_include_tax=totals.prices_include_tax,
        requires_shipping=totals.requires_shipping,
        subtotal=totals.subtotal,
        discount_total=totals.discount_total,
        shipping_total=totals.shipping_total,
        tax_total=totals.tax_total,
        total=totals.total,
        expires_at=cart.expires_at,
        order_id=cart.order_id,
    )
