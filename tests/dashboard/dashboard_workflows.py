"""Workflows the dashboard tests show."""

from __future__ import annotations

from typing import Any

from liteflow.core import Workflow, WorkflowBuilder


def _nothing(context: Any) -> None:
    return None


class Approval(Workflow):
    """Waits for an "approved" event keyed by the workflow's reference."""

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(_nothing)
            .name("receive order")
            .wait_for("approved", lambda data, context: context.workflow.reference)
            .name("wait for approval")
            .then(_nothing)
            .name("ship")
        )


class Quick(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(_nothing).name("only step")


WORKFLOWS = (Approval, Quick)
