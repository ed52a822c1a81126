"""Templates end to end on a host: the seed example, joins, branches, async tasks, config, built-in tasks,
topic selection and the overrun policies (one host, and two hosts sharing providers)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from support import QUIET, is_waiting, wait_until

from liteflow.core import *
from liteflow.core.templates import TaskEvent, TaskRegistry, default_registry
from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider

WAIT = 10.0


class Recorder:
    """A task registry whose tasks record (task name, event) as they run."""

    def __init__(self) -> None:
        self.registry = TaskRegistry(parent=default_registry)
        self.calls: list[tuple[str, TaskEvent]] = []
        self.mutex = threading.Lock()

    def task(self, name: str, result: Callable[[TaskEvent], Any] | Any = None) -> None:
        def run(event: TaskEvent) -> Any:
            with self.mutex:
                self.calls.append((name, event))
            return result(event) if callable(result) else (result if result is not None else f"out:{name}")

        self.registry.add(name, run)

    def names(self) -> list[str]:
        with self.mutex:
            return [name for name, _ in self.calls]

    def events(self, name: str) -> list[TaskEvent]:
        with self.mutex:
            return [event for n, event in self.calls if n == name]


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def tpl(rec: Recorder, graph: dict[str, list[str]], names: dict[str, str] | None = None, **extra: Any) -> Any:
    """A template whose tasks are the graph's ids; task ``x`` uses the recorder's task ``x`` unless renamed."""
    ids: list[str] = []
    for upstream, downstream in graph.items():
        for task_id in (upstream, *downstream):
            if task_id not in ids:
                ids.append(task_id)
    names = names or {}
    for task_id in ids:
        if task_id not in names and rec.registry.get(task_id) is None:
            rec.task(task_id)
    tasks = [{"id": t, "name": names.get(t, t), **extra.pop(f"config_{t}", {})} for t in ids]
    return WorkflowTemplate.from_dict({"title": "t", "tasks": tasks, "graph": graph, **extra}, registry=rec.registry)


def outputs(host: WorkflowHost, wid: str) -> dict[str, Any]:
    return host.get_workflow_instance(wid).data["outputs"]  # type: ignore[no-any-return]


# -- the seed example -----------------------------------------------------------------------------------
SEED_LINES = [
    "hello from task1: apple",
    "hello from task2: data from task1",
    "hello from task1: data from task2",
    "hello from task2: data from task2",
    "hello from task1: data from task1",
    "hello from task2: data from task2",
]


def test_seed_example(host: WorkflowHost) -> None:
    lines: list[str] = []
    sources: list[tuple[Any, Any]] = []

    @register("my-task1")
    async def task1(event: Any) -> str:
        lines.append(f"hello from task1: {event.data}")
        sources.append((event.source["task_id"], event.data))
        return "data from task1"

    @register("my-task2")
    async def task2(event: Any) -> str:
        lines.append(f"hello from task2: {event.data}")
        sources.append((event.source["task_id"], event.data))
        return "data from task2"

    wf1 = {
        "title": "workflow #1",
        "tasks": [
            {"id": "f1", "name": "my-task1"},
            {"id": "f2", "name": "my-task2"},
            {"id": "f3", "name": "my-task2"},
            {"id": "f4", "name": "my-task1"},
            {"id": "f5", "name": "my-task2"},
            {"id": "f6", "name": "my-task1"},
        ],
        "graph": {"f1": ["f2"], "f2": ["f3", "f4"], "f3": ["f5"], "f4": ["f6"], "f5": [], "f6": []},
    }
    host.load(WorkflowTemplate.from_dict(wf1))
    host.start()
    ids = host.data_received("apple")
    assert len(ids) == 1
    done = host.wait_for_workflow(ids[0], WAIT)
    assert done.status is WorkflowStatus.COMPLETE
    # The same lines as the seed; the two branches after f2 have no defined order between them.
    assert lines[:2] == SEED_LINES[:2] and sorted(lines) == sorted(SEED_LINES)
    assert sorted(sources, key=str) == sorted(
        [
            (None, "apple"),
            ("f1", "data from task1"),
            ("f2", "data from task2"),
            ("f2", "data from task2"),
            ("f3", "data from task2"),
            ("f4", "data from task1"),
        ],
        key=str,
    )
    assert done.data == {
        "trigger": "apple",
        "topic": None,
        "outputs": {
            "f1": "data from task1",
            "f2": "data from task2",
            "f3": "data from task2",
            "f4": "data from task1",
            "f5": "data from task2",
            "f6": "data from task1",
        },
    }


# -- joins and branches ---------------------------------------------------------------------------------
def test_join_gets_parent_outputs_in_graph_order_and_runs_once(host: WorkflowHost, rec: Recorder) -> None:
    rec.task("a", "A")
    rec.task("b", lambda e: f"b({e.data})")
    rec.task("c", lambda e: f"c({e.data})")
    rec.task("d", lambda e: e.data)
    host.load(tpl(rec, {"a": ["c", "b"], "c": ["d"], "b": ["d"]}))
    host.start()
    wid = host.trigger("t", "go")
    assert wid is not None
    done = host.wait_for_workflow(wid, WAIT)
    assert done.status is WorkflowStatus.COMPLETE
    assert rec.names().count("d") == 1
    (event,) = rec.events("d")
    assert event.data == ["c(A)", "b(A)"]  # the order parents appear in the graph
    assert event.source["task_id"] == ["c", "b"]
    assert done.data["outputs"]["d"] == ["c(A)", "b(A)"]
    join_pointers = [p for p in done.execution_pointers if p.step_name == "d"]
    assert len(join_pointers) == 2 and all(p.end_time is not None for p in join_pointers)


def test_join_waits_for_a_slow_parent(host: WorkflowHost, rec: Recorder) -> None:
    """One parent waits for an event: the join runs once, after it, with outputs in graph order."""
    rec.task("fast", "F")
    rec.task("j", lambda e: e.data)
    graph = {"root": ["slow", "fast", "other"], "slow": ["j"], "fast": ["j"], "other": ["j"]}
    config = {"config_slow": {"config": {"event_name": "go", "event_key": "k"}}}
    host.load(tpl(rec, graph, names={"slow": "wait_for"}, **config))
    host.start()
    wid = host.trigger("t", None)
    assert wid is not None
    wait_until(lambda: is_waiting(host, wid), WAIT)
    wait_until(lambda: "other" in outputs(host, wid) and "fast" in outputs(host, wid), WAIT)
    time.sleep(QUIET)
    assert "j" not in rec.names()
    host.publish_event("go", "k", {"slow": True})
    done = host.wait_for_workflow(wid, WAIT)
    assert done.status is WorkflowStatus.COMPLETE
    assert rec.names().count("j") == 1
    assert rec.events("j")[0].data == [{"slow": True}, "F", "out:other"]


def test_independent_branches_progress_while_one_waits(host: WorkflowHost, rec: Recorder) -> None:
    graph = {"root": ["wait", "b1"], "wait": ["after"], "b1": ["b2"], "b2": ["b3"]}
    config = {"config_wait": {"config": {"event_name": "release", "event_key": "x"}}}
    host.load(tpl(rec, graph, names={"wait": "wait_for"}, **config))
    host.start()
    wid = host.trigger("t", 1)
    assert wid is not None
    wait_until(lambda: "b3" in outputs(host, wid), WAIT)
    instance = host.get_workflow_instance(wid)
    assert instance.status is WorkflowStatus.RUNNABLE and is_waiting(host, wid)
    assert "after" not in rec.names()
    host.publish_event("release", "x", "released")
    done = host.wait_for_workflow(wid, WAIT)
    assert done.status is WorkflowStatus.COMPLETE
    assert rec.events("after")[0].data == "released"


# -- tasks ----------------------------------------------------------------------------------------------
def test_async_tasks(host: WorkflowHost, rec: Recorder) -> None:
    async def slow_double(event: TaskEvent) -> int:
        await asyncio.sleep(0.01)
        return int(event.data) * 2

    rec.registry.add("double", slow_double)
    host.load(tpl(rec, {"a": ["b"], "b": []}, names={"a": "double", "b": "double"}))
    host.start()
    wid = host.trigger("t", 5)
    assert wid is not None
    assert host.wait_for_workflow(wid, WAIT).data["outputs"] == {"a": 10, "b": 20}


def test_config_topic_and_source_reach_the_task(host: WorkflowHost, rec: Recorder) -> None:
    def mutate(event: TaskEvent) -> Any:
        event.config["value"] = "changed"  # a task's copy only
        return event.config

    rec.registry.add("conf", mutate)
    config = {"config_a": {"config": {"value": 1, "nested": {"x": [1, 2]}}}}
    host.load(tpl(rec, {"a": ["b"], "b": []}, names={"a": "conf"}, **config))
    host.start()
    (wid,) = host.data_received({"k": "v"}, topic="news")
    done = host.wait_for_workflow(wid, WAIT)
    assert done.data["outputs"]["a"] == {"value": "changed", "nested": {"x": [1, 2]}}
    (event,) = rec.events("b")
    assert event.topic == "news" and event.config == {}
    assert event.source == {"workflow_id": wid, "template_id": "t", "task_id": "a"}
    assert done.data["trigger"] == {"k": "v"} and done.data["topic"] == "news"
    host.stop()
    definition = host.registry.get("t")
    assert definition.steps[0].new_body().spec.config == {"value": 1, "nested": {"x": [1, 2]}}  # type: ignore[attr-defined]


def test_step_body_task(host: WorkflowHost, rec: Recorder) -> None:
    class Greet(StepBody):
        def __init__(self) -> None:
            self.greeting = "hi"
            self.output: Any = None

        def run(self, context: StepExecutionContext) -> ExecutionResult:
            self.output = f"{self.greeting} {self.event.data} ({self.config['greeting']})"  # type: ignore[attr-defined]
            return ExecutionResult.next()

    rec.registry.add("greet", Greet)
    host.load(tpl(rec, {"g": ["next"]}, names={"g": "greet"}, config_g={"config": {"greeting": "hello"}}))
    host.start()
    wid = host.trigger("t", "bob")
    assert wid is not None
    done = host.wait_for_workflow(wid, WAIT)
    assert done.data["outputs"]["g"] == "hello bob (hello)"
    assert rec.events("next")[0].data == "hello bob (hello)"


def test_builtin_delay_and_wait_for_key_from_data(host: WorkflowHost, rec: Recorder) -> None:
    graph = {"first": ["pause"], "pause": ["approval"], "approval": ["last"]}
    config = {
        "config_pause": {"config": {"seconds": 0.2}},
        "config_approval": {"config": {"event_name": "approved", "event_key_from": "trigger.order"}},
    }
    host.load(tpl(rec, graph, names={"pause": "delay", "approval": "wait_for"}, **config))
    host.start()
    started = time.monotonic()
    wid = host.trigger("t", {"order": "A-7"})
    assert wid is not None
    wait_until(lambda: is_waiting(host, wid), WAIT)
    assert time.monotonic() - started >= 0.2
    assert outputs(host, wid)["pause"] == "out:first"  # delay passes its input on
    host.publish_event("approved", "A-6", "not mine")
    time.sleep(QUIET)
    assert "last" not in rec.names()
    host.publish_event("approved", "A-7", {"by": "ann"})
    done = host.wait_for_workflow(wid, WAIT)
    assert done.status is WorkflowStatus.COMPLETE
    assert rec.events("last")[0].data == {"by": "ann"}


def test_wait_for_takes_an_event_published_since_the_instance_started(host: WorkflowHost, rec: Recorder) -> None:
    rec.task("slow", lambda e: time.sleep(0.3) or "slow")
    host.load(tpl(rec, {"slow": ["w"], "w": []}, names={"w": "wait_for"}, config_w={"config": {"event_name": "e"}}))
    host.start()
    wid = host.trigger("t", None)
    assert wid is not None
    host.publish_event("e", "", "early")  # before the wait_for task is reached
    assert host.wait_for_workflow(wid, WAIT).data["outputs"]["w"] == "early"


def test_start_workflow_directly_wraps_the_data(host: WorkflowHost, rec: Recorder) -> None:
    host.load(tpl(rec, {"a": []}))
    host.start()
    wid = host.start_workflow("t", data={"plain": 1})
    done = host.wait_for_workflow(wid, WAIT)
    assert done.data == {"trigger": {"plain": 1}, "topic": None, "outputs": {"a": "out:a"}}


def test_a_failing_task_with_retry_is_retried(host: WorkflowHost, rec: Recorder) -> None:
    attempts: list[int] = []

    def flaky(event: TaskEvent) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        return "finally"

    rec.registry.add("flaky", flaky)
    retry = {"retry": {"max": 2, "interval": 0.01}}
    host.load(tpl(rec, {"a": ["b"]}, names={"a": "flaky"}, config_a=retry))
    host.start()
    wid = host.trigger("t", None)
    assert wid is not None
    done = host.wait_for_workflow(wid, WAIT)
    assert done.data["outputs"]["a"] == "finally" and len(attempts) == 3
    assert host.report(wid)["tasks"][0] | {"start": None, "end": None} == {
        "id": "a",
        "name": "flaky",
        "state": "done",
        "start": None,
        "end": None,
        "output": "finally",
        "attempts": 3,
    }
    assert rec.names() == ["b"]


# -- triggering -----------------------------------------------------------------------------------------
def test_topic_selection(host: WorkflowHost, rec: Recorder) -> None:
    rec.task("a")
    for title, topics in (("all", None), ("orders", ["orders", "refunds"]), ("none", [])):
        doc: dict[str, Any] = {"title": title, "tasks": [{"id": "a", "name": "a"}], "graph": {}}
        if topics is not None:
            doc["topics"] = topics
        host.load(WorkflowTemplate.from_dict(doc, registry=rec.registry))

    def started(ids: list[str]) -> list[str]:
        return sorted(host.get_workflow_instance(i).workflow_definition_id for i in ids)

    assert started(host.data_received(1)) == ["all"]
    assert started(host.data_received(2, topic="orders")) == ["all", "orders"]
    assert started(host.data_received(3, topic="refunds")) == ["all", "orders"]
    assert started(host.data_received(4, topic="other")) == ["all"]
    assert started([wid for wid in [host.trigger("none", 5)] if wid]) == ["none"]
    with pytest.raises(WorkflowNotRegisteredError):
        host.trigger("unknown", 1)


def test_a_newer_version_replaces_the_triggered_one(host: WorkflowHost, rec: Recorder) -> None:
    rec.task("a")
    rec.task("b")
    for version, name in ((1, "a"), (2, "b")):
        doc = {"title": "t", "version": version, "tasks": [{"id": "x", "name": name}], "graph": {}}
        host.load(WorkflowTemplate.from_dict(doc, registry=rec.registry))
    (wid,) = host.data_received(None)
    assert host.get_workflow_instance(wid).version == 2


# -- policies -------------------------------------------------------------------------------------------
def policy_template(rec: Recorder, policy: str) -> Any:
    """root waits for ("unlock", trigger.key); then "hold" waits for ("finish", trigger.key)."""
    graph = {"root": ["hold"], "hold": []}
    config = {
        "config_root": {"config": {"event_name": "unlock", "event_key_from": "trigger.key"}},
        "config_hold": {"config": {"event_name": "finish", "event_key_from": "trigger.key"}},
    }
    return tpl(rec, graph, names={"root": "wait_for", "hold": "wait_for"}, policy=policy, **config)


def status(host: WorkflowHost, wid: str) -> WorkflowStatus:
    return host.get_workflow_instance(wid).status


def test_policy_start_new(host: WorkflowHost, rec: Recorder) -> None:
    host.load(policy_template(rec, "start-new"))
    host.start()
    first = host.data_received({"key": "1"})
    second = host.data_received({"key": "2"})
    assert len(first) == 1 and len(second) == 1 and first != second
    assert status(host, first[0]) is status(host, second[0]) is WorkflowStatus.RUNNABLE


def test_policy_skip(host: WorkflowHost, rec: Recorder) -> None:
    host.load(policy_template(rec, "skip"))
    host.start()
    (first,) = host.data_received({"key": "1"})
    assert host.data_received({"key": "2"}) == []
    assert host.trigger("t", {"key": "2"}) is None
    host.publish_event("unlock", "1")
    wait_until(lambda: "root" in outputs(host, first), WAIT)
    assert host.data_received({"key": "2"}) == []  # still running
    host.publish_event("finish", "1")
    assert host.wait_for_workflow(first, WAIT).status is WorkflowStatus.COMPLETE
    again = host.trigger("t", {"key": "3"})
    assert again is not None and again != first


def test_policy_skip_until_unlock(host: WorkflowHost, rec: Recorder) -> None:
    host.load(policy_template(rec, "skip-until-unlock"))
    host.start()
    (first,) = host.data_received({"key": "1"})
    assert host.data_received({"key": "2"}) == []  # the root task has not finished
    host.publish_event("unlock", "1")
    wait_until(lambda: "root" in outputs(host, first), WAIT)
    (second,) = host.data_received({"key": "2"})  # unlocked, although still running
    assert status(host, first) is status(host, second) is WorkflowStatus.RUNNABLE
    assert host.data_received({"key": "3"}) == []  # the second one is locked now


def test_policy_abort_running(host: WorkflowHost, rec: Recorder) -> None:
    host.load(policy_template(rec, "abort-running"))
    host.start()
    (first,) = host.data_received({"key": "1"})
    (second,) = host.data_received({"key": "2"})
    assert status(host, first) is WorkflowStatus.TERMINATED
    assert status(host, second) is WorkflowStatus.RUNNABLE
    (third,) = host.data_received({"key": "3"})
    assert status(host, second) is WorkflowStatus.TERMINATED
    host.publish_event("unlock", "3")
    host.publish_event("finish", "3")
    assert host.wait_for_workflow(third, WAIT).status is WorkflowStatus.COMPLETE


def test_policies_hold_across_hosts_sharing_providers(rec: Recorder) -> None:
    persistence, queue = MemoryPersistenceProvider(), MemoryQueueProvider()
    locks: dict[str, tuple[str, float]] = {}
    hosts = [
        configure_workflow_host(persistence, queue, MemoryLockProvider(registry=locks), poll_interval=0.1)
        for _ in range(2)
    ]
    try:
        for h in hosts:
            h.load(policy_template(rec, "skip"))
        hosts[0].start()
        (first,) = hosts[0].data_received({"key": "1"})
        assert hosts[1].data_received({"key": "2"}) == []
        assert hosts[1].trigger("t", {"key": "2"}) is None
        hosts[1].publish_event("unlock", "1")
        hosts[1].publish_event("finish", "1")
        assert hosts[0].wait_for_workflow(first, WAIT).status is WorkflowStatus.COMPLETE
        assert len(hosts[1].data_received({"key": "3"})) == 1
    finally:
        for h in hosts:
            h.stop()


def test_concurrent_triggers_start_one_instance_under_skip(host: WorkflowHost, rec: Recorder) -> None:
    host.load(policy_template(rec, "skip"))
    started: list[str] = []
    barrier = threading.Barrier(8)

    def fire() -> None:
        barrier.wait()
        started.extend(host.data_received({"key": "x"}))

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 1
