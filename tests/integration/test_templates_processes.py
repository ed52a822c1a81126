"""A template task running in one OS process receives the data another process dispatches (Redis hub),
and still gets it all when its process is killed and another one runs it again."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from node_process import launch, ready, stop_nodes
from template_tasks import LISTENER, registry

from liteflow.core import BrokerEvent, WorkflowHost, WorkflowTemplate, configure_workflow_host
from liteflow.providers.redis import RedisLifecycleHub, RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

pytestmark = [pytest.mark.redis, pytest.mark.slow]
NODE_SCRIPT = Path(__file__).with_name("template_node.py")
WAIT = 30.0


Workers = Callable[[], subprocess.Popen[str]]


@pytest.fixture
def workers(redis_url: str, redis_cleanup: str) -> Iterator[Workers]:
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        env = dict(os.environ, LITEFLOW_REDIS_URL=redis_url, LITEFLOW_PREFIX=redis_cleanup, LITEFLOW_LEASE="1")
        proc = launch(NODE_SCRIPT, env=env)
        started.append(proc)
        return ready(proc)

    yield start
    stop_nodes(started)


@pytest.fixture
def worker(workers: Workers) -> subprocess.Popen[str]:
    return workers()


@pytest.fixture
def client(redis_url: str, redis_cleanup: str) -> Iterator[WorkflowHost]:
    closers: list[Any] = [
        RedisPersistenceProvider(redis_url, prefix=redis_cleanup),
        RedisQueueProvider(redis_url, prefix=redis_cleanup),
        RedisLockProvider(redis_url, prefix=redis_cleanup),
    ]
    hub = RedisLifecycleHub(redis_url, prefix=redis_cleanup)
    host = configure_workflow_host(*closers, lifecycle_hub=hub)  # never started: the worker runs the tasks
    host.load(WorkflowTemplate.from_dict(LISTENER, registry=registry()))
    yield host
    host.close()
    for closer in [*closers, hub]:
        closer.close()


def test_a_task_in_another_process_receives_three_items_dispatched_here(
    worker: subprocess.Popen[str], client: WorkflowHost
) -> None:
    exec_events: list[dict[str, Any]] = []
    listening, ended = threading.Event(), threading.Event()

    def on_exec(event: BrokerEvent) -> None:
        exec_events.append(event.data)
        if event.data["event"] == "task-begin" and event.data["task_id"] == "listen":
            listening.set()
        if event.data["event"] == "workflow-end":
            ended.set()

    client.broker.register(on_exec, topic="liteflow.exec")
    wid = client.trigger("listener", None)
    assert wid is not None
    assert listening.wait(WAIT), "the worker process did not begin the task"
    client.broker.dispatch({"n": 1}, topic="feed")
    client.broker.dispatch({"n": 0}, topic="not-listened-to")
    client.broker.dispatch({"n": 2}, topic="more")
    client.data_received({"n": 3}, topic="feed")  # data_received dispatches too ("topics": [] starts nothing)
    assert client.wait_for_workflow(wid, WAIT).status.name == "COMPLETE"
    report = client.report(wid)
    output = report["tasks"][0]["output"]
    assert output["pid"] == worker.pid != os.getpid()
    assert output["got"] == [
        {"data": {"n": 1}, "topic": "feed", "from": client.id},
        {"data": {"n": 2}, "topic": "more", "from": client.id},
        {"data": {"n": 3}, "topic": "feed", "from": client.id},
    ]
    assert report["state"] == "done" and [t["state"] for t in report["tasks"]] == ["done", "done"]
    assert report["tasks"][1]["output"] == 3
    assert ended.wait(WAIT)
    kinds = [(e["event"], e.get("task_id")) for e in exec_events if e["workflow_id"] == wid]
    assert kinds == [
        ("workflow-begin", None),
        ("task-begin", "listen"),
        ("task-end", "listen"),
        ("task-begin", "after"),
        ("task-end", "after"),
        ("workflow-end", None),
    ]


def test_a_task_whose_process_dies_gets_everything_dispatched_when_it_runs_again(
    workers: Workers, client: WorkflowHost
) -> None:
    begun: list[int] = []
    changed = threading.Condition()

    def on_exec(event: BrokerEvent) -> None:
        if event.data["event"] == "task-begin" and event.data["task_id"] == "listen":
            with changed:
                begun.append(1)
                changed.notify_all()

    def began(count: int) -> bool:
        with changed:
            return changed.wait_for(lambda: len(begun) >= count, WAIT)

    client.broker.register(on_exec, topic="liteflow.exec")
    first = workers()
    wid = client.trigger("listener", None)
    assert wid is not None and began(1)
    client.broker.dispatch({"n": 1}, topic="feed")  # taken by the first run
    first.kill()  # SIGKILL: the task dies waiting for more
    first.wait()
    client.broker.dispatch({"n": 2}, topic="more")  # while no process runs the task
    second = workers()
    assert began(2), "the second process did not run the task again"
    client.broker.dispatch({"n": 3}, topic="feed")
    assert client.wait_for_workflow(wid, WAIT).status.name == "COMPLETE"
    output = client.report(wid)["tasks"][0]["output"]
    assert output["pid"] == second.pid
    assert [item["data"] for item in output["got"]] == [{"n": 1}, {"n": 2}, {"n": 3}]
