"""Field rules products and categories share: automatic slugs, and NOT NULL columns a
partial update may not clear."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from storefleet.errors import InvalidInput


def slugify(text: str, fallback: str = "item") -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:120].strip("-")
    return slug or fallback


def refuse_nulls(fields: dict[str, Any], not_null: Iterable[str]) -> None:
    """An explicit ``null`` on a column the row requires is a 422 naming the field."""
    for key in not_null:
        if key in fields and fields[key] is None:
            raise InvalidInput("must not be null", field=key)
