"""The catalog admin API: products (one nested write) and the category tree."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from storefleet.api.deps import RuntimeDep
from storefleet.api.store_access import CanManageCatalog
from storefleet.commerce.catalog import service
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
    ProductSummary,
    Status,
)
from storefleet.commerce.common import PageParams, page_params
from storefleet.control.billing.limits import check_product_limit

router = APIRouter(prefix="/api/stores/{store_id}", tags=["catalog"])
Paging = Annotated[PageParams, Depends(page_params)]
SearchText = Annotated[str, Query(min_length=1, max_length=200)]


@router.post("/products", status_code=status.HTTP_201_CREATED, response_model=ProductOut)
async def create_product(
    body: ProductCreate, ctx: CanManageCatalog, runtime: RuntimeDep
) -> ProductOut:
    async with runtime.tenancy.session(ctx.placement, write=True) as s:
        await check_product_limit(
            runtime.control_sessions,
            ctx.store_id,
            await service.count_live_products(s, ctx.store_id),
        )
        product = await service.create_product(s, ctx.store_id, body, actor=ctx.actor_label)
        return ProductOut.model_validate(await service.product_detail(s, product))


@router.get("/products", response_model=ProductPage)
async def list_products(
    ctx: CanManageCatalog,
    runtime: RuntimeDep,
    paging: Paging,
    sort: str | None = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    kind: Kind | None = None,
    category_id: uuid.UUID | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    vendor: Annotated[str | None, Query(max_length=255)] = None,
    q: SearchText | None = None,
) -> ProductPage:
    filters = service.ListFilters(status_, kind, category_id, tag, vendor, q)
    async with runtime.tenancy.session(ctx.placement, write=False) as s:
        rows, total = await service.list_products(
            s, filters, sort=sort, limit=paging.limit, offset=paging.offset
        )
        items = [ProductSummary.model_validate(p) for p in rows]
    return ProductPage(items=items, total=total, limit=paging.limit, offset=paging.offset)


@router.get("/products/{product_id}", response_model=ProductOut)
async def get_product(
    product_id: uuid.UUID, ctx: CanManageCatalog, runtime: RuntimeDep
) -> ProductOut:
    async with runtime.tenancy.session(ctx.placement, write=False) as s:
        product = await service.get_product(s, product_id)
        return ProductOut.model_validate(await service.product_detail(s, product))


@router.patch("/products/{product_id}", response_model=ProductOut)
async def update_product(
    product_id: uuid.UUID, body: ProductPatch, ctx: CanManageCatalog, runtime: RuntimeDep
) -> ProductOut:
    async with runtime.tenancy.session(ctx.placement, write=True) as s:
        product = await service.update_product(
            s, ctx.store_id, product_id, body, actor=ctx.actor_label
        )
        return ProductOut.model_validate(await service.product_detail(s, product))


@router.delete("/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_product(
    product_id: uuid.UUID, ctx: CanManageCatalog, runtime: RuntimeDep
) -> Response:
    async with runtime.tenancy.session(ctx.placement, write=True) as s:
        await service.delete_product(s, product_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/categories", response_model=CategoryPage)
async def list_categories(
    ctx: CanManageCatalog, runtime: RuntimeDep, paging: Paging, parent_id: uuid.UUID | None = None
) -> CategoryPage:
    async with runtime.tenancy.session(ctx.placement, write=False) as s:
        rows, total = await service.list_categories(
            s, limit=paging.limit, offset=paging.offset, parent_id=parent_id
        )
        items = [CategoryOut.model_validate(c) for c in rows]
    return CategoryPage(items=items, total=total, limit=paging.limit, offset=paging.offset)


@router.post("/categories", status_code=status.HTTP_201_CREATED, response_model=CategoryOut)
async def create_category(
    body: CategoryCreate, ctx: CanManageCatalog, runtime: RuntimeDep
) -> CategoryOut:
    async with runtime.tenancy.session(ctx.placement, write=True) as s:
        category = await service.create_category(s, ctx.store_id, body.model_dump())
        return CategoryOut.model_validate(category)


@router.get("/categories/{category_id}", response_model=CategoryOut)
async def get_category(
    category_id: uuid.UUID, ctx: CanManageCatalog, runtime: RuntimeDep
) -> CategoryOut:
    async with runtime.tenancy.session(ctx.placement, write=False) as s:
        return CategoryOut.model_validate(await service.get_category(s, category_id))


@router.patch("/categories/{category_id}", response_model=CategoryOut)
async def update_category(
    category_id: uuid.UUID, body: CategoryPatch, ctx: CanManageCatalog, runtime: RuntimeDep
) -> CategoryOut:
    async with runtime.tenancy.session(ctx.placement, write=True) as s:
        category = await service.update_category(
            s, category_id, body.model_dump(exclude_unset=True)
        )
        return CategoryOut.model_validate(category)


@router.delete("/categories/{category_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_category(
    category_id: uuid.UUID, ctx: CanManageCatalog, runtime: RuntimeDep
) -> Response:
    async with runtime.tenancy.session(ctx.placement, write=True) as s:
        await service.delete_category(s, category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/categories/{category_id}/products", response_model=CategoryProductsOut)
async def set_category_products(
    category_id: uuid.UUID, body: CategoryProductsIn, ctx: CanManageCatalog, runtime: RuntimeDep
) -> CategoryProductsOut:
    async with runtime.tenancy.session(ctx.placement, write=True) as s:
        ids = await service.set_category_products(s, ctx.store_id, category_id, body.product_ids)
    return CategoryProductsOut(category_id=category_id, product_ids=ids)
