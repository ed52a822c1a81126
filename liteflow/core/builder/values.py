"""The user callables of a definition, as the builder stores them: ``fn(data, context)``."""

from __future__ import annotations

from typing import Any

from liteflow.core.definition import DataFn, positional_arity
from liteflow.core.errors import DefinitionError


def constant(value: Any) -> DataFn:
    def fn(data: Any, context: Any) -> Any:
        return value

    return fn


def begin(context: Any) -> None:
    """The no-op first step of a workflow or branch that begins with a primitive."""


def as_data_fn(fn: Any, what: str) -> DataFn:
    """Accept ``fn(data, context)`` or, leniently, ``fn(data)``; a non-callable is a constant."""
    if not callable(fn):
        return constant(fn)
    if positional_arity(fn) >= 2:
        return fn  # type: ignore[no-any-return,unused-ignore]
    if positional_arity(fn) == 1:

        def adapted(data: Any, context: Any) -> Any:
            return fn(data)

        return adapted
    raise DefinitionError(f"{what} must be a function of (data, context)")
