"""A store's daily usage: requests and errors (metered), orders, products, storage."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from storefleet.api.deps import ControlSession
from storefleet.api.store_access import CanViewBilling
from storefleet.control.usage import daily
from storefleet.control.usage.schemas import DayUsageOut, UsageOut, UsageTotals

router = APIRouter(tags=["usage"])


@router.get("/api/stores/{store_id}/usage", response_model=UsageOut, response_model_by_alias=True)
async def usage(
    ctx: CanViewBilling,
    session: ControlSession,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> UsageOut:
    """One entry per day (default: the last 30 days); today's requests lag by ~1 s."""
    start, end = daily.check_range(start, end)
    days = await daily.daily_usage(session, ctx.store_id, start, end)
    return UsageOut(
        store_id=ctx.store_id,
        start=start,
        end=end,
        days=[DayUsageOut.model_validate(d) for d in days],
        totals=UsageTotals(
            requests=sum(d.requests for d in days),
            errors=sum(d.errors for d in days),
            orders=sum(d.orders for d in days),
        ),
    )
