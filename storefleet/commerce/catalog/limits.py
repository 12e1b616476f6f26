"""The count a store's plan limit on products is checked against."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.catalog.models import Product
from storefleet.db.locks import Seed


async def count_live_products(session: AsyncSession, store_id: uuid.UUID) -> int:
    """Live products of the store, counted under a per-store lock so two creations at the
    plan's limit cannot both pass the check (the lock lasts until the transaction ends)."""
    await session.execute(
        text(f"SELECT pg_advisory_xact_lock({Seed.CATALOG_LIMIT.sql(':k')})"),
        {"k": f"{store_id}:products"},
    )
    return int(
        await session.scalar(select(func.count()).select_from(Product).where(Product.live())) or 0
    )
