"""The customers API of a store (owner and staff): customers and their addresses."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from storefleet.api.store_access import CanManageCustomers
from storefleet.api.unit_of_work import TenantReader, TenantSession
from storefleet.commerce.common import PageParams, page_params
from storefleet.commerce.customers import service
from storefleet.commerce.customers.models import Customer
from storefleet.commerce.customers.schemas import (
    AddressCreate,
    AddressList,
    AddressOut,
    AddressUpdate,
    CustomerCreate,
    CustomerOut,
    CustomerPage,
    CustomerUpdate,
)

router = APIRouter(prefix="/api/stores/{store_id}/customers", tags=["customers"])


def customer_out(customer: Customer) -> CustomerOut:
    return CustomerOut(
        id=customer.id,
        email=customer.email,
        is_guest=customer.is_guest,
        has_account=customer.user_id is not None,
        first_name=customer.first_name,
        last_name=customer.last_name,
        phone=customer.phone,
        accepts_marketing=customer.accepts_marketing,
        customer_group=customer.customer_group,
        notes=customer.notes,
        tags=list(customer.tags or []),
        created_at=customer.created_at,
        updated_at=customer.updated_at,
    )


@router.get("", response_model=CustomerPage)
async def list_customers(
    ctx: CanManageCustomers,
    s: TenantReader,
    page: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str | None, Query(max_length=200)] = None,
    group: Annotated[str | None, Query(max_length=64)] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    accepts_marketing: bool | None = None,
    sort: Annotated[str | None, Query(max_length=40)] = None,
) -> CustomerPage:
    rows = await service.list_customers(
        s,
        q=q,
        group=group,
        tag=tag,
        accepts_marketing=accepts_marketing,
        sort=sort,
        limit=page.limit,
        offset=page.offset,
    )
    out: CustomerPage = CustomerPage.of(rows, customer_out)
    return out


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CustomerOut)
async def create_customer(
    body: CustomerCreate, ctx: CanManageCustomers, s: TenantSession
) -> CustomerOut:
    return customer_out(await service.create_customer(s, ctx.store_id, body.model_dump()))


@router.get("/{customer_id}", response_model=CustomerOut)
async def get_customer(
    customer_id: uuid.UUID, ctx: CanManageCustomers, s: TenantReader
) -> CustomerOut:
    return customer_out(await service.get_customer(s, customer_id))


@router.patch("/{customer_id}", response_model=CustomerOut)
async def update_customer(
    customer_id: uuid.UUID, body: CustomerUpdate, ctx: CanManageCustomers, s: TenantSession
) -> CustomerOut:
    return customer_out(await service.update_customer(s, customer_id, body.changes()))


@router.delete("/{customer_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_customer(
    customer_id: uuid.UUID, ctx: CanManageCustomers, s: TenantSession
) -> Response:
    await service.delete_customer(s, customer_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{customer_id}/addresses", response_model=AddressList)
async def list_addresses(
    customer_id: uuid.UUID, ctx: CanManageCustomers, s: TenantReader
) -> AddressList:
    rows = await service.list_addresses(s, customer_id)
    return AddressList(items=[AddressOut.model_validate(a) for a in rows])


@router.post(
    "/{customer_id}/addresses", status_code=status.HTTP_201_CREATED, response_model=AddressOut
)
async def add_address(
    customer_id: uuid.UUID, body: AddressCreate, ctx: CanManageCustomers, s: TenantSession
) -> AddressOut:
    address = await service.add_address(s, ctx.store_id, customer_id, body.model_dump())
    return AddressOut.model_validate(address)


@router.patch("/{customer_id}/addresses/{address_id}", response_model=AddressOut)
async def update_address(
    customer_id: uuid.UUID,
    address_id: uuid.UUID,
    body: AddressUpdate,
    ctx: CanManageCustomers,
    s: TenantSession,
) -> AddressOut:
    address = await service.update_address(
        s, customer_id, address_id, body.model_dump(exclude_unset=True)
    )
    return AddressOut.model_validate(address)


@router.delete("/{customer_id}/addresses/{address_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_address(
    customer_id: uuid.UUID, address_id: uuid.UUID, ctx: CanManageCustomers, s: TenantSession
) -> Response:
    await service.delete_address(s, customer_id, address_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
