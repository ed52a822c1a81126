"""Definition checks at registration: DefinitionError naming the step and the attribute (and the one
probably meant) for an input a step body does not have and an output the data type has no field for."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import BaseModel

from liteflow.core import DefinitionError, StepBody, StepExecutionContext, Workflow, WorkflowBuilder, WorkflowHost


class Charge(StepBody):
    def __init__(self) -> None:
        self.amount = 0
        self.receipt: str | None = None

    def run(self, context: StepExecutionContext) -> None:
        self.receipt = f"paid {self.amount}"


@dataclasses.dataclass
class Order:
    amount: int = 0
    receipt: str | None = None


class OrderModel(BaseModel):
    amount: int = 0
    receipt: str | None = None


class Plain:
    def __init__(self) -> None:
        self.amount = 0


def workflow(build: Any, data_type: type | None = None) -> Workflow:
    class W(Workflow):
        def build(self, builder: WorkflowBuilder) -> None:
            build(builder)

    W.data_type = data_type
    return W()


def test_an_input_the_step_does_not_have(host: WorkflowHost) -> None:
    wf = workflow(lambda b: b.start_with(lambda c: None).then(Charge).input("amout", lambda d, c: 5))
    with pytest.raises(DefinitionError) as info:
        host.register_workflow(wf)
    message = str(info.value)
    assert "step 1 (Charge)" in message and "'amout'" in message and "did you mean 'amount'?" in message


def test_an_input_with_nothing_close(host: WorkflowHost) -> None:
    wf = workflow(lambda b: b.start_with(Charge).input("zzz", lambda d, c: 5))
    with pytest.raises(DefinitionError, match=r"step 0 \(Charge\).*'zzz'") as info:
        host.register_workflow(wf)
    assert "did you mean" not in str(info.value)


@pytest.mark.parametrize("data_type", [Order, OrderModel], ids=["dataclass", "pydantic"])
def test_an_output_the_data_type_has_no_field_for(host: WorkflowHost, data_type: type) -> None:
    wf = workflow(
        lambda b: b.start_with(Charge).input("amount", lambda d, c: d.amount).output("recipt", lambda s: s.receipt),
        data_type,
    )
    with pytest.raises(DefinitionError) as info:
        host.register_workflow(wf)
    message = str(info.value)
    assert "step 0 (Charge)" in message and "'recipt'" in message and "did you mean 'receipt'?" in message


@pytest.mark.parametrize("data_type", [Order, OrderModel, Plain, None], ids=["dataclass", "pydantic", "plain", "none"])
def test_correct_inputs_and_outputs_register(host: WorkflowHost, data_type: type | None) -> None:
    wf = workflow(
        lambda b: b.start_with(Charge).input("amount", lambda d, c: 1).output("receipt", lambda s: s.receipt),
        data_type,
    )
    host.register_workflow(wf)


def test_plain_data_types_take_any_output(host: WorkflowHost) -> None:
    host.register_workflow(workflow(lambda b: b.start_with(Charge).output("anything", lambda s: 1), Plain))
