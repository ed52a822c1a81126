"""A template task running in one OS process receives the data another process dispatches (Redis hub)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from template_tasks import LISTENER, registry

from liteflow.core import BrokerEvent, WorkflowHost, WorkflowTemplate, configure_workflow_host
from liteflow.providers.redis import RedisLifecycleHub, RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

pytestmark = [pytest.mark.redis, pytest.mark.slow]
NODE_SCRIPT = Path(__file__).with_name("template_node.py")
WAIT = 30.0


@pytest.fixture
def worker(redis_url: str, redis_cleanup: str) -> Iterator[subprocess.Popen[str]]:
    env = dict(os.environ, LITEFLOW_REDIS_URL=redis_url, LITEFLOW_PREFIX=redis_cleanup)
    proc = subprocess.Popen([sys.executable, str(NODE_SCRIPT)], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "the worker did not start"
    yield proc
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
