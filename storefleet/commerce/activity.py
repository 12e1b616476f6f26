"""What a store did on a day, counted in its own data: the commerce side of daily usage.

The control plane's usage aggregation asks this (through the store's read transaction)
instead of reading commerce tables itself, so the two domains share a function, not a
schema.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.catalog.models import Product
from storefleet.commerce.orders.models import Order


@dataclass(frozen=True)
class DayActivity:
    products: int  # live at the end of the day
    orders: int  # placed during the day


async def day_activity(
    session: AsyncSession, store_id: uuid.UUID, start: datetime, end: datetime
) -> DayActivity:
    products = await session.scalar(
        select(func.count())
        .select_from(Product)
        .where(
            Product.store_id == store_id,
            Product.created_at < end,
            or_(Product.live(), Product.deleted_at >= end),
        )
    )
    orders = await session.scalar(
        select(func.count())
        .select_from(Order)
        .where(Order.store_id == store_id, Order.created_at >= start, Order.created_at < end)
    )
    return DayActivity(products=int(products or 0), orders=int(orders or 0))
