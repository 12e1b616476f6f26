"""The catalog admin API: products (one nested write) and the category tree."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from storefleet.api.deps import RuntimeDep
from storefleet.api.store_access import CanManageCatalog
from storefleet.api.unit_of_work import TenantReader, TenantSession
from storefleet.commerce.catalog import categories, products, search
from storefleet.commerce.catalog.details import product_detail
from storefleet.commerce.catalog.limits import count_live_products
from storefleet.commerce.catalog.schemas import (
    CategoryCreate,
    CategoryOut,
    CategoryPage,
    CategoryPatch,
    CategoryProductsIn,
    CategoryProductsOut,
    Kind,
    ProductCreate,
    ProductOut,
    ProductPage,
    ProductPatch,
    Status,
)
from storefleet.commerce.common import PageParams, page_params
from storefleet.control.billing.limits import check_product_limit

router = APIRouter(prefix="/api/stores/{store_id}", tags=["catalog"])
Paging = Annotated[PageParams, Depends(page_params)]
SearchText = Annotated[str, Query(min_length=1, max_length=200)]


@router.post("/products", status_code=status.HTTP_201_CREATED, response_model=ProductOut)
async def create_product(
    body: ProductCreate, ctx: CanManageCatalog, s: TenantSession, runtime: RuntimeDep
) -> ProductOut:
    await check_product_limit(
        runtime.control_sessions, ctx.store_id, await count_live_products(s, ctx.store_id)
    )
    product = await products.create_product(s, ctx.store_id, body, actor=ctx.actor_label)
    return ProductOut.model_validate(await product_detail(s, product))


@router.get("/products", response_model=ProductPage)
async def list_products(
    ctx: CanManageCatalog,
    s: TenantReader,
    paging: Paging,
    sort: str | None = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    kind: Kind | None = None,
    category_id: uuid.UUID | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    vendor: Annotated[str | None, Query(max_length=255)] = None,
    q: SearchText | None = None,
) -> ProductPage:
    filters = search.ListFilters(status_, kind, category_id, tag, vendor, q)
    rows = await search.list_products(
        s, filters, sort=sort, limit=paging.limit, offset=paging.offset
    )
    return ProductPage.of(rows)


@router.get("/products/{product_id}", response_model=ProductOut)
async def get_product(product_id: uuid.UUID, ctx: CanManageCatalog, s: TenantReader) -> ProductOut:
    product = await products.get_product(s, product_id)
    return ProductOut.model_validate(await product_detail(s, product))


@router.patch("/products/{product_id}", response_model=ProductOut)
async def update_product(
    product_id: uuid.UUID, body: ProductPatch, ctx: CanManageCatalog, s: TenantSession
) -> ProductOut:
    product = await products.update_product(
        s, ctx.store_id, product_id, body, actor=ctx.actor_label
    )
    return ProductOut.model_validate(await product_detail(s, product))


@router.delete("/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_product(
    product_id: uuid.UUID, ctx: CanManageCatalog, s: TenantSession
) -> Response:
    await products.delete_product(s, product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/categories", response_model=CategoryPage)
async def list_categories(
    ctx: CanManageCatalog, s: TenantReader, paging: Paging, parent_id: uuid.UUID | None = None
) -> CategoryPage:
    rows = await categories.list_categories(
        s, limit=paging.limit, offset=paging.offset, parent_id=parent_id
    )
    return CategoryPage.of(rows)


@router.post("/categories", status_code=status.HTTP_201_CREATED, response_model=CategoryOut)
async def create_category(
    body: CategoryCreate, ctx: CanManageCatalog, s: TenantSession
) -> CategoryOut:
    category = await categories.create_category(s, ctx.store_id, body.model_dump())
    return CategoryOut.model_validate(category)


@router.get("/categories/{category_id}", response_model=CategoryOut)
async def get_category(
    category_id: uuid.UUID, ctx: CanManageCatalog, s: TenantReader
) -> CategoryOut:
    return CategoryOut.model_validate(await categories.get_category(s, category_id))


@router.patch("/categories/{category_id}", response_model=CategoryOut)
async def update_category(
    category_id: uuid.UUID, body: CategoryPatch, ctx: CanManageCatalog, s: TenantSession
) -> CategoryOut:
    category = await categories.update_category(s, category_id, body.model_dump(exclude_unset=True))
    return CategoryOut.model_validate(category)


@router.delete("/categories/{category_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_category(
    category_id: uuid.UUID, ctx: CanManageCatalog, s: TenantSession
) -> Response:
    await categories.delete_category(s, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/categories/{category_id}/products", response_model=CategoryProductsOut)
async def set_category_products(
    category_id: uuid.UUID, body: CategoryProductsIn, ctx: CanManageCatalog, s: TenantSession
) -> CategoryProductsOut:
    ids = await categories.set_category_products(s, ctx.store_id, category_id, body.product_ids)
    return CategoryProductsOut(category_id=category_id, product_ids=ids)
