"""The category tree: each category keeps its materialized path (``shoes/running``), so a
subtree is one prefix match and a move rewrites the whole subtree in one UPDATE."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storefleet.commerce.catalog.fields import slugify
from storefleet.commerce.catalog.models import Category, CategoryProduct, Product
from storefleet.db.constraints import flush, unique_conflicts
from storefleet.db.ids import uuid7
from storefleet.db.queries import Rows, get_or_404, paged
from storefleet.errors import Conflict, InvalidInput
from storefleet.schemas import MUST_NOT, apply_changes, refuse_nulls

CATEGORY_NOT_FOUND = "Category not found"
NOT_NULL_CATEGORY_FIELDS = ("name", "slug", "description", "position", "is_active")


async def get_category(
    session: AsyncSession, category_id: uuid.UUID, *, for_update: bool = False
) -> Category:
    return await get_or_404(
        session, Category, category_id, missing=CATEGORY_NOT_FOUND, lock=for_update
    )


async def list_categories(
    session: AsyncSession, *, limit: int, offset: int, parent_id: uuid.UUID | None = None
) -> Rows[Category]:
    stmt = select(Category)
    if parent_id is not None:
        stmt = stmt.where(Category.parent_id == parent_id)
    return await paged(session, stmt.order_by(Category.path), limit=limit, offset=offset)


async def _check_category_slug(
    session: AsyncSession, slug: str, category_id: uuid.UUID | None
) -> None:
    stmt = select(Category.id).where(Category.slug == slug)
    if category_id is not None:
        stmt = stmt.where(Category.id != category_id)
    if await session.scalar(stmt.limit(1)) is not None:
        raise Conflict(f"slug {slug!r} is already used by another category", field="slug")


async def _parent(session: AsyncSession, parent_id: uuid.UUID | None) -> Category | None:
    if parent_id is None:
        return None
    parent = await session.scalar(select(Category).where(Category.id == parent_id))
    if parent is None:
        raise InvalidInput("unknown parent category", field="parent_id")
    return parent


@unique_conflicts
async def create_category(
    session: AsyncSession, store_id: uuid.UUID, fields: dict[str, Any]
) -> Category:
    slug = fields.pop("slug", None) or slugify(fields["name"], "category")
    await _check_category_slug(session, slug, None)
    parent = await _parent(session, fields.get("parent_id"))
    category = Category(store_id=store_id, id=uuid7(), slug=slug, **fields)
    category.path = f"{parent.path}/{slug}" if parent else slug
    session.add(category)
    await flush(session)
    return category


@unique_conflicts
async def update_category(
    session: AsyncSession, category_id: uuid.UUID, fields: dict[str, Any]
) -> Category:
    """Rename or move; the materialized path of the whole subtree follows in one UPDATE."""
    category = await get_category(session, category_id, for_update=True)
    refuse_nulls(fields, NOT_NULL_CATEGORY_FIELDS, MUST_NOT)
    if "slug" in fields and fields["slug"] != category.slug:
        await _check_category_slug(session, fields["slug"], category.id)
    old_path = category.path
    parent_path: str | None = old_path.rpartition("/")[0] or None
    if "parent_id" in fields and fields["parent_id"] != category.parent_id:
        parent = await _parent(session, fields["parent_id"])
        if parent is not None and (
            parent.id == category.id or parent.path.startswith(old_path + "/")
        ):
            raise Conflict("a category cannot move under itself", field="parent_id")
        parent_path = parent.path if parent else None
    apply_changes(category, fields)
    new_path = f"{parent_path}/{category.slug}" if parent_path else category.slug
    category.updated_at = datetime.now(UTC)
    await flush(session)
    if new_path != old_path:
        await session.execute(
            update(Category)
            .where(or_(Category.path == old_path, Category.path.startswith(old_path + "/")))
            .values(path=func.concat(new_path, func.substr(Category.path, len(old_path) + 1)))
            .execution_options(synchronize_session=False)
        )
        await session.refresh(category)
    return category


async def delete_category(session: AsyncSession, category_id: uuid.UUID) -> None:
    category = await get_category(session, category_id)
    child = await session.scalar(
        select(Category.id).where(Category.parent_id == category.id).limit(1)
    )
    if child is not None:
        raise Conflict("the category still has subcategories", field="parent_id")
    await session.delete(category)
    await flush(session)


async def set_category_products(
    session: AsyncSession, store_id: uuid.UUID, category_id: uuid.UUID, ids: list[uuid.UUID]
) -> list[uuid.UUID]:
    """Membership and order of a category's products, replaced as given."""
    await get_category(session, category_id)
    live = set(
        (
            await session.execute(select(Product.id).where(Product.id.in_(ids), Product.live()))
        ).scalars()
    )
    for i, product_id in enumerate(ids):
        if product_id not in live:
            raise InvalidInput("unknown product", field=f"product_ids.{i}")
        if product_id in ids[:i]:
            raise InvalidInput("product listed twice", field=f"product_ids.{i}")
    await session.execute(delete(CategoryProduct).where(CategoryProduct.category_id == category_id))
    session.add_all(
        CategoryProduct(
            store_id=store_id, id=uuid7(), category_id=category_id, product_id=p, position=i
        )
        for i, p in enumerate(ids)
    )
    await flush(session)
    return ids
