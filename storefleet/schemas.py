"""The base every request body shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown fields are refused: a body never slips in a store_id, role or balance."""

    model_config = ConfigDict(extra="forbid")
