"""The admin product list: filters, sorting and search (full text or a typo in the name)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.catalog.models import CategoryProduct, Product
from storefleet.commerce.common import sort_order
from storefleet.db.queries import Rows, paged

TRIGRAM_THRESHOLD = 0.3
SIMPLE: ColumnElement[Any] = literal_column("'simple'::regconfig")
PRODUCT_SORTS: dict[str, ColumnElement[Any]] = {
    "name": Product.name,  # type: ignore[dict-item]
    "created_at": Product.created_at,  # type: ignore[dict-item]
    "updated_at": Product.updated_at,  # type: ignore[dict-item]
    "published_at": Product.published_at,  # type: ignore[dict-item]
}


def search_filter(q: str) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
    """Full text (``websearch_to_tsquery``) OR trigram similarity on the name, and a rank.

    ``word_similarity`` catches a typo inside a longer name ("shrit" → "Blue Shirt") that
    plain ``similarity`` of the whole name misses. pg_trgm lives in ``public``: the session's
    search_path is the store's schema only, so its functions are qualified.
    """
    tsq = func.websearch_to_tsquery(SIMPLE, q)
    similarity = func.public.similarity(Product.name, q)
    word = func.public.word_similarity(q, Product.name)
    condition = or_(
        Product.search_vector.op("@@")(tsq),
        similarity > TRIGRAM_THRESHOLD,
        word > TRIGRAM_THRESHOLD,
    )
    rank = func.ts_rank(Product.search_vector, tsq) + func.greatest(similarity, word)
    return condition, rank


def in_category(category_id: uuid.UUID) -> ColumnElement[bool]:
    return Product.id.in_(
        select(CategoryProduct.product_id).where(CategoryProduct.category_id == category_id)
    )


@dataclass
class ListFilters:
    status: str | None = None
    kind: str | None = None
    category_id: uuid.UUID | None = None
    tag: str | None = None
    vendor: str | None = None
    q: str | None = None


async def list_products(
    session: AsyncSession,
    filters: ListFilters,
    *,
    sort: str | None,
    limit: int,
    offset: int,
) -> Rows[Product]:
    conditions: list[ColumnElement[bool]] = [Product.live()]
    if filters.status:
        conditions.append(Product.status == filters.status)
    if filters.kind:
        conditions.append(Product.kind == filters.kind)
    if filters.category_id:
        conditions.append(in_category(filters.category_id))
    if filters.tag:
        conditions.append(Product.tags.contains([filters.tag]))
    if filters.vendor:
        conditions.append(Product.vendor == filters.vendor)
    order: list[Any]
    if filters.q:
        condition, rank = search_filter(filters.q)
        conditions.append(condition)
        order = [rank.desc()] if sort is None else sort_order(sort, PRODUCT_SORTS, "-created_at")
    else:
        order = sort_order(sort, PRODUCT_SORTS, "-created_at")
    stmt = select(Product).where(*conditions).order_by(*order, Product.id)
    return await paged(session, stmt, limit=limit, offset=offset)
