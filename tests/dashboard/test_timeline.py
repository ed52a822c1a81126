"""The instance timeline names its rows as the documents do (``liteflow.documents.step_name``)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

pytest.importorskip("starlette")

from liteflow.core import StepBody, Workflow, WorkflowBuilder, configure_workflow_host
from liteflow.core.models import ExecutionPointer, PointerStatus, WorkflowInstance, utcnow
from liteflow.dashboard.timeline import timeline_svg
from liteflow.documents import step_name


class Second(StepBody):
    def run(self, context: object) -> None:
        return None


class Named(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None).name("<first>").then(Second)


def _labels(svg: str) -> list[str]:
    return re.findall(r'<text x="4" y="\d+">([^<]*)</text>', svg)


def test_rows_are_named_by_the_definition_else_as_stored() -> None:
    host = configure_workflow_host()
    host.register_workflow(Named())
    definition = host.registry.find("Named", 1)
    assert definition is not None
    began = utcnow() - timedelta(seconds=2)
    pointers = [
        ExecutionPointer(
            step_id=0, step_name="stored", status=PointerStatus.COMPLETE, start_time=began, end_time=began
        ),
        ExecutionPointer(step_id=1, status=PointerStatus.RUNNING, start_time=began),
        ExecutionPointer(step_id=7, step_name="gone", status=PointerStatus.PENDING),
        ExecutionPointer(step_id=8, status=PointerStatus.PENDING),
    ]
    instance = WorkflowInstance(
        workflow_definition_id="Named", version=1, create_time=began, execution_pointers=pointers
    )

    named = _labels(timeline_svg(instance, definition))
    assert named == ["&lt;first&gt;", "Second", "gone", "step 8"]
    assert named[1:] == [step_name(p, definition) for p in pointers[1:]]
    assert _labels(timeline_svg(instance, None)) == ["stored", "step 1", "gone", "step 8"]
