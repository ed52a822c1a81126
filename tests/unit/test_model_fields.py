"""``fields_of``: the engine's hot path writes fields without pydantic's ``__setattr__``, which is the same
only while the models validate no assignment."""

from __future__ import annotations

from liteflow.core.models import (
    ExecutionPointer,
    PointerStatus,
    WorkflowInstance,
    fields_of,
    new_pointer,
)


def test_the_models_validate_no_assignment() -> None:
    # if they did, a write through fields_of would skip a validation that a plain assignment runs
    for model in (ExecutionPointer, WorkflowInstance):
        assert not model.model_config.get("validate_assignment", False)


def test_a_write_through_fields_of_is_what_an_assignment_stores() -> None:
    assigned, written = new_pointer(step_id=1), new_pointer(step_id=1)
    assigned.status = PointerStatus.COMPLETE
    assigned.outcome = {"x": 1}
    fields_of(written)["status"] = PointerStatus.COMPLETE
    fields_of(written)["outcome"] = {"x": 1}
    assert written.status is PointerStatus.COMPLETE
    dumped = written.model_dump(mode="json")
    assert dumped == {**assigned.model_dump(mode="json"), "id": written.id}
    assert dumped["status"] == "Complete" and dumped["outcome"] == {"x": 1}
    assert list(fields_of(written)) == list(ExecutionPointer.model_fields)  # field order kept
