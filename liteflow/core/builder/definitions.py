"""``register_workflow``'s first step: what it was given (a :class:`Workflow`, its class, or a template)
turned into a validated :class:`WorkflowDefinition`."""

from __future__ import annotations

from typing import Any

from liteflow.core.builder.workflow_builder import WorkflowBuilder
from liteflow.core.definition import WorkflowDefinition
from liteflow.core.engine.limits import apply_limits
from liteflow.core.errors import DefinitionError
from liteflow.core.workflow import Workflow


def build_definition(workflow: Any) -> WorkflowDefinition:
    """Turn what ``register_workflow`` was given into a validated definition."""
    to_definition = getattr(workflow, "to_definition", None)
    if callable(to_definition) and not isinstance(workflow, Workflow):
        definition = to_definition()
        assert isinstance(definition, WorkflowDefinition)
        return definition
    if isinstance(workflow, type) and issubclass(workflow, Workflow):
        workflow = workflow()
    if not isinstance(workflow, Workflow):
        raise DefinitionError(f"register_workflow takes a Workflow instance, got {type(workflow).__name__}")
    definition_id, version = workflow.id(), workflow.version()
    if not isinstance(definition_id, str) or not definition_id:
        raise DefinitionError(f"{type(workflow).__name__}.id() must return a non-empty string, got {definition_id!r}")
    if not isinstance(version, int) or isinstance(version, bool):
        raise DefinitionError(f"workflow {definition_id!r}: version() must return an int, got {version!r}")
    data_type = workflow.data_type
    if data_type is not None and not isinstance(data_type, type):
        raise DefinitionError(f"workflow {definition_id!r}: data_type must be a class, got {data_type!r}")
    builder = WorkflowBuilder()
    try:
        workflow.build(builder)
        if len(builder.roots) > 1:
            raise DefinitionError("start_with() was called more than once")
        definition = builder.build(definition_id, version, data_type=data_type)
        apply_limits(definition, workflow)
        return definition
    except DefinitionError as exc:
        if str(exc).startswith("workflow "):
            raise
        raise DefinitionError(f"workflow {definition_id!r} version {version}: {exc}") from exc
    except Exception as exc:
        raise DefinitionError(
            f"workflow {definition_id!r} version {version}: build() raised {type(exc).__name__}: {exc}"
        ) from exc
