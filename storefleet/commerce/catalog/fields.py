"""Field rules products and categories share: automatic slugs."""

from __future__ import annotations

import re


def slugify(text: str, fallback: str = "item") -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:120].strip("-")
    return slug or fallback
