"""The engine's hot path writes model fields into ``__dict__`` (see ``models._Persisted``), which stores
what an assignment stores only while the models validate no assignment."""

from __future__ import annotations

from liteflow.core.models import ExecutionPointer, PointerStatus, WorkflowInstance, new_pointer


def test_the_models_validate_no_assignment() -> None:
    # if they did, a write into __dict__ would skip a validation that a plain assignment runs
    for model in (ExecutionPointer, WorkflowInstance):
        assert not model.model_config.get("validate_assignment", False)


def test_a_write_into_the_fields_is_what_an_assignment_stores() -> None:
    assigned, written = new_pointer(step_id=1), new_pointer(step_id=1)
    assigned.status = PointerStatus.COMPLETE
    assigned.outcome = {"x": 1}
    written.__dict__["status"] = PointerStatus.COMPLETE
    written.__dict__["outcome"] = {"x": 1}
    assert written.status is PointerStatus.COMPLETE
    dumped = written.model_dump(mode="json")
    assert dumped == {**assigned.model_dump(mode="json"), "id": written.id}
    assert dumped["status"] == "Complete" and dumped["outcome"] == {"x": 1}
    assert list(written.__dict__) == list(ExecutionPointer.model_fields)  # field order kept
