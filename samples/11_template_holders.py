"""The rest of tukio: task holders, topic data for a running task, a crash, a timeout, reports and the
exec topic.

A holder is a class created with its task's config; the ``collect`` task receives what is dispatched to
its topic while its instance runs; ``flaky`` crashes (ending only its branch); ``slow`` overruns its
timeout (cancelled, torn down). ``host.report`` shows how each task ended.

Run: ``python samples/11_template_holders.py``
"""

from __future__ import annotations

import asyncio
import threading

from liteflow.core import TaskHolder, WorkflowTemplate, configure_workflow_host, register


@register("greet", "execute")
class Greet(TaskHolder):
    async def execute(self, event):
        return f"{self.config['greeting']}, {event.data}"

    def report(self):
        return {"greeting": self.config["greeting"]}


@register("collect", "execute")
class Collect(TaskHolder):
    async def execute(self, event):
        readings = [(await event.queue.get()).data for _ in range(3)]
        return sum(readings) / len(readings)


@register("flaky", "execute")
class Flaky(TaskHolder):
    def execute(self, event):
        raise RuntimeError("sensor offline")


@register("slow", "execute")
class Slow(TaskHolder):
    async def execute(self, event):
        await asyncio.sleep(60)

    def teardown(self):
        print("slow task torn down")


TEMPLATE = {
    "title": "readings",
    "topics": ["start"],
    "tasks": [
        {"id": "hello", "name": "greet", "config": {"greeting": "hello"}},
        {"id": "average", "name": "collect", "topics": ["celsius"]},
        {"id": "broken", "name": "flaky"},
        {"id": "after_broken", "name": "greet", "config": {"greeting": "never"}},
        {"id": "late", "name": "slow", "timeout": 0.2},
    ],
    "graph": {"hello": ["average", "broken", "late"], "broken": ["after_broken"]},
}


def main() -> None:
    host = configure_workflow_host()
    host.load(WorkflowTemplate.from_dict(TEMPLATE))
    listening = threading.Event()

    def on_exec(event):
        print("exec:", event.data["event"], event.data.get("task_id") or "")
        if event.data["event"] == "task-begin" and event.data["task_id"] == "average":
            listening.set()

    host.broker.register(on_exec, topic="liteflow.exec")
    with host:
        (wid,) = host.data_received("sensors", topic="start")
        listening.wait(10)
        for value in (20.5, 21.0, 21.5):
            host.broker.dispatch(value, topic="celsius")
        host.wait_for_workflow(wid)
        report = host.report(wid)
    print(f"workflow {report['title']}: {report['state']}")
    for task in report["tasks"]:
        extra = task.get("error") or task["output"]
        print(f"  {task['id']}: {task['state']} {extra if extra is not None else ''}".rstrip())


if __name__ == "__main__":
    main()
