"""The payment methods API of a store (owner and staff). Secrets go in, never out."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from storefleet.api.deps import RuntimeDep
from storefleet.api.store_access import CanManagePayments
from storefleet.api.unit_of_work import TenantReader, TenantSession
from storefleet.commerce.payments import service
from storefleet.commerce.payments.models import PaymentMethod
from storefleet.commerce.payments.schemas import (
    PaymentMethodCreate,
    PaymentMethodList,
    PaymentMethodOut,
    PaymentMethodUpdate,
)

router = APIRouter(prefix="/api/stores/{store_id}/payment-methods", tags=["payments"])


def method_out(method: PaymentMethod) -> PaymentMethodOut:
    return PaymentMethodOut(
        id=method.id,
        code=method.code,
        provider=method.provider,
        name=method.name,
        instructions=method.instructions,
        is_active=method.is_active,
        position=method.position,
        config=dict(method.config or {}),
        has_secret=method.secret_ciphertext is not None,
        created_at=method.created_at,
        updated_at=method.updated_at,
    )


@router.get("", response_model=PaymentMethodList)
async def list_methods(ctx: CanManagePayments, s: TenantReader) -> PaymentMethodList:
    return PaymentMethodList(items=[method_out(m) for m in await service.list_methods(s)])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=PaymentMethodOut)
async def create_method(
    body: PaymentMethodCreate, ctx: CanManagePayments, s: TenantSession, runtime: RuntimeDep
) -> PaymentMethodOut:
    method = await service.create_method(s, runtime.keyring, ctx.store_id, body.model_dump())
    return method_out(method)


@router.get("/{method_id}", response_model=PaymentMethodOut)
async def get_method(
    method_id: uuid.UUID, ctx: CanManagePayments, s: TenantReader
) -> PaymentMethodOut:
    return method_out(await service.get_method(s, method_id))


@router.patch("/{method_id}", response_model=PaymentMethodOut)
async def update_method(
    method_id: uuid.UUID,
    body: PaymentMethodUpdate,
    ctx: CanManagePayments,
    s: TenantSession,
    runtime: RuntimeDep,
) -> PaymentMethodOut:
    method = await service.update_method(
        s, runtime.keyring, method_id, body.model_dump(exclude_unset=True)
    )
    return method_out(method)


@router.delete("/{method_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_method(method_id: uuid.UUID, ctx: CanManagePayments, s: TenantSession) -> Response:
    await service.delete_method(s, method_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
