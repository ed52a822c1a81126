"""The library's own event names cannot be published by users; the engine still uses them."""

from __future__ import annotations

from typing import Any

import pytest
from support import MS, define, rec, wait_until

from liteflow.core import WorkflowHost, WorkflowStatus
from liteflow.core.primitives.sub_workflow import CHILD_COMPLETED_EVENT
from liteflow.core.templates.policies import RUNNING_MARKER

pytestmark = pytest.mark.host_options(started=True)


@pytest.mark.parametrize("name", [CHILD_COMPLETED_EVENT, RUNNING_MARKER, "liteflow.child-terminated", "liteflow.x"])
def test_reserved_names_are_refused(host: WorkflowHost, name: str) -> None:
    with pytest.raises(ValueError, match=r"reserved"):
        host.publish_event(name, "key", {"forged": True})


def test_an_event_name_is_a_string(host: WorkflowHost) -> None:
    with pytest.raises(TypeError, match="event name"):
        host.publish_event(42, "key")  # type: ignore[arg-type]


def test_a_child_result_cannot_be_forged_and_the_engine_still_announces_it(host: WorkflowHost) -> None:
    log: list[str] = []
    children: list[str] = []

    def child_step(context: Any) -> None:
        children.append(context.workflow.id)
        context.workflow.data.value = "real"

    define(host, lambda b: b.start_with(child_step).delay(lambda d, c: 200 * MS), wid="Child")
    define(
        host,
        lambda b: (
            b.start_with(rec(log, "parent"))
            .sub_workflow("Child")
            .output("result", lambda step: step.result)
            .then(rec(log, "parent-end"))
        ),
        wid="Parent",
    )
    wid = host.start_workflow("Parent", None, None)
    wait_until(lambda: children)  # the child's id is known once it runs
    with pytest.raises(ValueError, match="reserved"):
        host.publish_event(CHILD_COMPLETED_EVENT, children[0], {"value": "forged"})
    inst = host.wait_for_workflow(wid, timeout=10)
    assert inst.status is WorkflowStatus.COMPLETE
    result = inst.data.result
    assert (result["value"] if isinstance(result, dict) else result.value) == "real"
