"""Query, path and header parameters pass the text check that ``Strict`` gives bodies.

One app-wide dependency, run before any other dependency of any route: a NUL character (or
a lone surrogate) in a parameter's name or value answers 422 naming the parameter, the same
problem+json as a body field, instead of reaching PostgreSQL as a 500.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from storefleet.schemas import text_problem


def _problems(where: str, items: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    found = []
    for name, value in items:
        problem = text_problem(name) or text_problem(value)
        if problem:
            kind, message = problem
            found.append({"type": kind, "loc": (where, name), "msg": message, "input": ""})
    return found


async def refuse_unstorable_parameters(request: Request) -> None:
    errors = [
        *_problems("path", request.path_params.items()),
        *_problems("query", request.query_params.multi_items()),
        *_problems("header", request.headers.items()),
    ]
    if errors:
        raise RequestValidationError(errors)
