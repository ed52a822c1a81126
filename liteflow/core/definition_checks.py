"""Checks a definition's steps can pass at registration rather than fail at run time, each named.

* every step body can be created without arguments (step bodies are created fresh for every execution);
* ``.input("attr", ...)`` names an attribute a fresh body of the step has;
* ``.output("attr", ...)`` names a field of the workflow's ``data_type`` when that is a dataclass or a
  pydantic model (other data types take any attribute).

A miss raises :class:`DefinitionError` naming the step and the attribute and, when one is close, the
attribute probably meant.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from liteflow.core.definition import WorkflowStep
from liteflow.core.errors import DefinitionError


def check_steps(definition_id: str, steps: list[WorkflowStep], data_type: type | None) -> None:
    fields = declared_fields(data_type)
    for step in steps:
        where = f"workflow {definition_id!r}, step {step.id} ({step.display_name})"
        body = _fresh_body(step, where)
        for mapping in step.inputs:
            if not hasattr(body, mapping.attr):
                raise DefinitionError(
                    f"{where}: input {mapping.attr!r}: {type(body).__name__} has no attribute {mapping.attr!r}"
                    + did_you_mean(mapping.attr, body_attributes(body))
                )
        if fields is None:
            continue
        for output in step.outputs:
            if output.attr is None:
                continue
            name = output.attr.split(".", 1)[0]
            if name not in fields:
                assert data_type is not None
                raise DefinitionError(
                    f"{where}: output {output.attr!r}: {data_type.__name__} has no field {name!r}"
                    + did_you_mean(name, fields)
                )


def _fresh_body(step: WorkflowStep, where: str) -> Any:
    try:
        return step.new_body()
    except Exception as exc:
        name = getattr(step.body_type, "__name__", "the step body")
        raise DefinitionError(
            f"{where}: {name} cannot be created without arguments ({type(exc).__name__}: {exc}); "
            "a step body is created fresh for every execution, so its __init__ takes no arguments"
        ) from exc


def declared_fields(data_type: type | None) -> set[str] | None:
    """The fields of a dataclass or pydantic ``data_type`` (with pydantic aliases); None for other types."""
    if data_type is None:
        return None
    if isinstance(data_type, type) and issubclass(data_type, BaseModel):
        names = set(data_type.model_fields)
        names.update(f.alias for f in data_type.model_fields.values() if f.alias)
        return names
    if dataclasses.is_dataclass(data_type):
        return {f.name for f in dataclasses.fields(data_type)}
    return None


def body_attributes(body: Any) -> list[str]:
    """The public attributes of a step body that are not methods."""
    names = set(getattr(body, "__dict__", {}))
    names.update(n for n in dir(type(body)) if not callable(getattr(type(body), n, None)))
    return sorted(n for n in names if not n.startswith("_"))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
