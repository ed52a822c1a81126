"""Starting a child workflow is idempotent without a look before the create, on every provider.

A ``sub_workflow`` step run twice at the same moment for one attempt (a pass repeated by the host that
took over a lapsed lock, while the first is still running) must start exactly one child: the child's
id is derived from the attempt, and the provider's refusal to create an id that exists
(``WorkflowAlreadyExistsError``) is taken as "already started".
"""

from __future__ import annotations

import threading
from typing import Any

from support import WAIT, define

from liteflow.core import WorkflowHost, WorkflowStarted, WorkflowStatus
from liteflow.core.primitives.sub_workflow import SubWorkflow


def test_a_sub_workflow_step_run_twice_at_once_starts_one_child(host: WorkflowHost) -> None:
    child_runs: list[str] = []
    define(host, lambda b: b.start_with(lambda c: child_runs.append(c.workflow.id)), wid="Child")
    define(host, lambda b: b.start_with(lambda c: None).sub_workflow("Child"), wid="Parent")
    started: list[str] = []
    host.on_lifecycle_event(lambda e: started.append(e.workflow_definition_id), WorkflowStarted)

    # both runs reach create_workflow before either has created the child: a look first finds nothing
    both_at_create = threading.Barrier(2, timeout=2)
    create = host.persistence.create_workflow

    def create_together(instance: Any) -> str:
        if instance.workflow_definition_id == "Child":
            both_at_create.wait()
        return create(instance)

    host.persistence.create_workflow = create_together  # type: ignore[method-assign]

    def run_twice_at_once(context: Any, body: Any, next_: Any) -> Any:
        if not isinstance(body, SubWorkflow) or context.execution_pointer.event_published:
            return next_()
        results: list[Any] = []
        failures: list[BaseException] = []

        def run() -> None:
            try:
                results.append(next_())
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        if failures:
            raise failures[0]
        return results[0]

    host.add_step_middleware(run_twice_at_once)
    host.start()
    wid = host.start_workflow("Parent")

    parent = host.wait_for_workflow(wid, timeout=WAIT)
    assert parent.status is WorkflowStatus.COMPLETE
    assert host.get_errors(wid) == []
    assert started.count("Child") == 1 and len(child_runs) == 1
