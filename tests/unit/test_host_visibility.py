"""host.list_workflows / count_workflows: the public face of the providers' visibility queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from liteflow.core import *
from liteflow.core.visibility import parse_status


@dataclass
class Order:
    n: int = 0


class Quick(Workflow):
    data_type = Order

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None)


class Waits(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None).wait_for("go", lambda data, context: "k")


def test_list_and_count_by_status_name_definition_and_reference() -> None:
    host = configure_workflow_host()
    host.register_workflow(Quick())
    host.register_workflow(Waits())
    with host:
        done = [host.start_workflow("Quick", None, Order(n), reference=f"r{n % 2}") for n in range(4)]
        waiting = host.start_workflow("Waits", None, None)
        for wid in done:
            host.wait_for_workflow(wid)
        assert host.suspend_workflow(waiting)
    complete = host.list_workflows(status="COMPLETE")
    assert [i.id for i in complete] == done[::-1]
    assert all(isinstance(i.data, Order) for i in complete)
    assert host.count_workflows(status="Complete") == 4
    assert host.count_workflows(status=WorkflowStatus.SUSPENDED) == 1
    assert [i.id for i in host.list_workflows(status="suspended")] == [waiting]
    assert [i.id for i in host.list_workflows(definition_id="Quick", reference="r1")] == [done[3], done[1]]
    assert [i.id for i in host.list_workflows(skip=1, take=2)] == [done[3], done[2]]
    first = host.get_workflow_instance(done[0]).create_time
    assert host.count_workflows(created_from=first, created_to=first + timedelta(days=1)) == 5
    assert host.count_workflows(created_to=first) == 0


def test_an_unknown_status_is_a_value_error_naming_the_known_ones() -> None:
    host = configure_workflow_host()
    with pytest.raises(ValueError, match=r"DONE.*RUNNABLE, SUSPENDED, COMPLETE, TERMINATED"):
        host.list_workflows(status="DONE")
    with pytest.raises(ValueError, match="take"):
        host.list_workflows(take=-1)
    assert parse_status("terminated") is WorkflowStatus.TERMINATED
