"""The fluent builder: ``builder.start_with(A).then(B).input(...).output(...)...``.

Every user callable in a definition takes ``(data, context)``; ``.output`` takes ``fn(step)`` or
``fn(step, data)``; a do-block takes ``fn(builder)``. Each verb appends :class:`WorkflowStep` objects
to one flat list owned by the :class:`WorkflowBuilder`.

``workflow_builder`` holds the list and builds the definition; ``step_builder`` configures a step and
chains the next (and the builders of container blocks); ``values`` turns user callables into
``fn(data, context)``.
"""

from liteflow.core.builder.step_builder import (
    ContainerBuilder,
    DecideBuilder,
    ParallelBuilder,
    ScheduleBuilder,
    StepBuilder,
    WhenBuilder,
)
from liteflow.core.builder.workflow_builder import WorkflowBuilder
from liteflow.core.definition import ANY_OUTCOME

__all__ = [
    "ANY_OUTCOME",
    "ContainerBuilder",
    "DecideBuilder",
    "ParallelBuilder",
    "ScheduleBuilder",
    "StepBuilder",
    "WhenBuilder",
    "WorkflowBuilder",
]
