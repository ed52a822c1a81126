"""Workflows as data (tukio-style templates).

Tasks are functions registered by name; a workflow is a dict (or JSON) listing tasks and the DAG tying
them together. ``host.load(template)`` makes it runnable; ``host.data_received(data, topic)`` starts an
instance of every template listening to that topic, ``host.trigger(template_id, data)`` one of a given
template. Each task receives an ``event`` (``event.data`` is its parent's output) and returns its output.

Run: ``python samples/08_templates.py``
"""

from __future__ import annotations

import time

from liteflow.core import PointerStatus, WorkflowHost, WorkflowTemplate, configure_workflow_host, register


@register("my-task1")
async def task1(event):
    print(f"hello from task1: {event.data}")
    return "data from task1"


@register("my-task2")
async def task2(event):
    print(f"hello from task2: {event.data}")
    return "data from task2"


@register("receive-order")
def receive_order(event):
    print(f"order {event.data['order']} received, waiting for its approval")
    return event.data


@register("ship-order")
def ship_order(event):
    # event.data is the wait_for task's output: the approval event's data
    print(f"shipping (approved by {event.data['by']}, carrier {event.config['carrier']})")
    return "shipped"


WF1 = {
    "title": "workflow #1",
    "tasks": [
        {"id": "f1", "name": "my-task1"},
        {"id": "f2", "name": "my-task2"},
        {"id": "f3", "name": "my-task2"},
        {"id": "f4", "name": "my-task1"},
        {"id": "f5", "name": "my-task2"},
        {"id": "f6", "name": "my-task1"},
    ],
    "graph": {
        "f1": ["f2"],
        "f2": ["f3", "f4"],
        "f3": ["f5"],
        "f4": ["f6"],
        "f5": [],
        "f6": [],
    },
}

APPROVAL = """{
    "title": "order approval",
    "policy": "skip",
    "topics": ["orders"],
    "tasks": [
        {"id": "receive", "name": "receive-order"},
        {"id": "approval", "name": "wait_for",
         "config": {"event_name": "order-approved", "event_key_from": "trigger.order"}},
        {"id": "ship", "name": "ship-order", "config": {"carrier": "bike"}}
    ],
    "graph": {"receive": ["approval"], "approval": ["ship"]}
}"""


def wait_until_waiting(host: WorkflowHost, workflow_id: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pointers = host.get_workflow_instance(workflow_id).execution_pointers
        if any(p.status is PointerStatus.WAITING_FOR_EVENT for p in pointers):
            return
        time.sleep(0.02)
    raise TimeoutError(f"{workflow_id} never waited for its event")


def main() -> None:
    host = configure_workflow_host(poll_interval=0.2)
    host.load(WorkflowTemplate.from_dict(WF1))
    host.load(WorkflowTemplate.from_json(APPROVAL))
    with host:
        # 1. The seed example: "workflow #1" listens to every topic; "order approval" only to "orders".
        for workflow_id in host.data_received("apple"):
            host.wait_for_workflow(workflow_id)

        # 2. A template that waits for an event between two tasks (started directly, by its id).
        approval_id = host.trigger("order approval", {"order": "A-1"})
        assert approval_id is not None
        wait_until_waiting(host, approval_id)
        skipped = host.trigger("order approval", {"order": "A-2"})
        print(f"policy 'skip': triggered again while it runs, started {skipped}")
        host.publish_event("order-approved", "A-1", {"by": "alice"})
        done = host.wait_for_workflow(approval_id)
        print(f"{done.status.value}: outputs {done.data['outputs']}")


if __name__ == "__main__":
    main()
