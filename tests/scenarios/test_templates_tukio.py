"""The rest of tukio on a host, in the style of tukio's own tests (tests/test_workflow.py, test_task.py):
task holders, crashes and timeouts that end one branch, a template timeout, retries, reports, the broker,
topic data for running tasks (on another host too), the exec topic, cancel, unload and reload.

Every test runs on the memory providers and on Redis (two hosts share the providers and a lifecycle hub).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import wait_until

from liteflow.core import *
from liteflow.core.lifecycle_hub import MemoryLifecycleHub
from liteflow.core.templates import BrokerEvent, TaskEvent, TaskRegistry, default_registry

WAIT = 15.0
#: Long enough that a task sleeping this long is one that was never stopped.
FOREVER = 30.0


class Tasks:
    """The tasks of one test: tukio's basic/crash/sleep holders, and what they saw."""

    def __init__(self) -> None:
        self.registry = TaskRegistry(parent=default_registry)
        self.ran: list[str] = []
        self.configs: list[dict[str, Any]] = []
        self.torn_down: list[str] = []
        self.release = threading.Event()  # lets abandoned sync tasks end when the test is over
        self.add_holders()
        self.add_sleepers()
        self.add_listeners()

    def add_holders(self) -> None:
        tasks = self

        @self.registry.register("basic", "execute")
        class Basic(TaskHolder):
            async def execute(self, event: TaskEvent) -> Any:
                tasks.ran.append(event.source["task_id"] or "root")
                tasks.configs.append(dict(self.config))
                return {"got": event.data, "value": self.config.get("value")}

            def report(self) -> Any:
                return {"value": self.config.get("value"), "uid": self.uid}

        @self.registry.register("crash", "execute")
        class Crash(TaskHolder):
            def __init__(self, config: dict[str, Any]) -> None:
                super().__init__(config)
                config["init_ok"]  # crash here if the key is missing

            async def execute(self, event: TaskEvent) -> Any:
                raise RuntimeError("crash in run")  # or crash here

    def add_sleepers(self) -> None:
        tasks = self

        @self.registry.register("sleep", "execute")
        class Sleep(TaskHolder):
            async def execute(self, event: TaskEvent) -> Any:
                await asyncio.sleep(FOREVER)

            def teardown(self) -> None:
                tasks.torn_down.append(self.uid)

        @self.registry.register("sleep-sync", "execute")
        class SleepSync(TaskHolder):
            def execute(self, event: TaskEvent) -> Any:
                tasks.release.wait(FOREVER)
                return "too late"

            def teardown(self) -> None:
                tasks.torn_down.append(self.uid)

    def add_listeners(self) -> None:
        tasks = self

        @self.registry.register("listen", "execute")
        class Listen(TaskHolder):
            """Returns the first three items dispatched to its topics, with who dispatched them."""

            async def execute(self, event: TaskEvent) -> Any:
                assert event.queue is not None and self.queue is event.queue
                got = []
                for _ in range(3):
                    item: BrokerEvent = await event.queue.get()
                    got.append({"data": item.data, "topic": item.topic, "from": item.source.get("host_id")})
                return got

            def teardown(self) -> None:
                tasks.torn_down.append(self.uid)

        @self.registry.register("listen-sync", "execute")
        class ListenSync(TaskHolder):
            def execute(self, event: TaskEvent) -> Any:
                got = []
                while len(got) < 3:
                    item = event.next_data(timeout=WAIT)
                    assert item is not None, "no topic data arrived"
                    got.append(item.data)
                return got

    def template(self, doc: dict[str, Any]) -> WorkflowTemplate:
        return WorkflowTemplate.from_dict(doc, registry=self.registry)


HostFactory = Callable[[], WorkflowHost]


@pytest.fixture
def tasks() -> Iterator[Tasks]:
    made = Tasks()
    yield made
    made.release.set()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make_host(request: pytest.FixtureRequest) -> Iterator[HostFactory]:
    """Hosts sharing one set of providers and one lifecycle hub (memory, or Redis with a key prefix)."""
    closers: list[Any] = []
    if request.param == "memory":
        from liteflow.providers.memory import MemoryLockProvider, MemoryPersistenceProvider, MemoryQueueProvider

        providers: list[Any] = [MemoryPersistenceProvider(), MemoryQueueProvider(), MemoryLockProvider()]
        hub: Any = MemoryLifecycleHub()
    else:
        from liteflow.providers.redis import (
            RedisLifecycleHub,
            RedisLockProvider,
            RedisPersistenceProvider,
            RedisQueueProvider,
        )

        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_cleanup")
        providers = [
            RedisPersistenceProvider(url, prefix=prefix),
            RedisQueueProvider(url, prefix=prefix),
            RedisLockProvider(url, prefix=prefix),
        ]
        hub = RedisLifecycleHub(url, prefix=prefix)
        closers += [*providers, hub]
    hosts: list[WorkflowHost] = []

    def make() -> WorkflowHost:
        host = configure_workflow_host(*providers, lifecycle_hub=hub, poll_interval=0.1)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()
    for closer in closers:
        closer.close()


def run_to_end(host: WorkflowHost, template_id: str, data: Any = None) -> dict[str, Any]:
    wid = host.trigger(template_id, data)
    assert wid is not None
    host.wait_for_workflow(wid, WAIT)
    return host.report(wid)


def states(report: dict[str, Any]) -> dict[str, str]:
    return {task["id"]: task["state"] for task in report["tasks"]}


OK = {
    "title": "ok",
    "tasks": [
        {"id": "1", "name": "basic"},
        {"id": "2", "name": "basic", "config": {"value": 2}},
        {"id": "3", "name": "basic"},
        {"id": "4", "name": "basic", "config": {"value": 4}},
    ],
    "graph": {"1": ["2", "3"], "2": ["4"], "3": [], "4": []},
}

CRASH = {
    "title": "crash_test",
    "tasks": [
        {"id": "crash", "name": "crash"},
        {"id": "wont_run", "name": "basic"},
        {"id": "1", "name": "basic"},
        {"id": "2", "name": "basic"},
    ],
    "graph": {"1": ["crash", "2"], "crash": ["wont_run"], "wont_run": [], "2": []},
}


# -- task holders and reports ---------------------------------------------------------------------------
def test_a_holder_is_created_with_its_task_config_and_the_report_shows_every_task(
    make_host: HostFactory, tasks: Tasks
) -> None:
    host = make_host()
    host.load(tasks.template(OK))
    host.start()
    report = run_to_end(host, "ok", {"initial": "data"})
    assert report["state"] == "done" and report["title"] == "ok" and report["template_id"] == "ok"
    assert report["start"] is not None and report["end"] is not None and report["start"] <= report["end"]
    assert states(report) == {"1": "done", "2": "done", "3": "done", "4": "done"}
    by_id = {task["id"]: task for task in report["tasks"]}
    assert by_id["1"]["output"] == {"got": {"initial": "data"}, "value": None}
    assert by_id["4"]["output"] == {"got": {"got": {"got": {"initial": "data"}, "value": None}, "value": 2}, "value": 4}
    assert by_id["2"]["report"]["value"] == 2 and by_id["4"]["report"]["value"] == 4
    assert len({task["report"]["uid"] for task in report["tasks"]}) == 4  # one holder per run
    assert all(task["start"] <= task["end"] for task in report["tasks"])
    assert sorted(tasks.ran) == ["1", "1", "2", "root"] and {"value": 4} in tasks.configs


@pytest.mark.parametrize("where", ["__init__", "run"])
def test_a_crash_ends_only_its_branch(make_host: HostFactory, tasks: Tasks, where: str) -> None:
    doc = {**CRASH, "tasks": [dict(t) for t in CRASH["tasks"]]}  # type: ignore[union-attr]
    if where == "run":
        doc["tasks"][0]["config"] = {"init_ok": None}
    host = make_host()
    host.load(tasks.template(doc))
    host.start()
    report = run_to_end(host, "crash_test", {"initial": "data"})
    assert host.get_workflow_instance(report["id"]).status is WorkflowStatus.COMPLETE
    assert report["state"] == "done"
    assert states(report) == {"crash": "failed", "wont_run": "pending", "1": "done", "2": "done"}
    crash = report["tasks"][0]
    expected = "KeyError: 'init_ok'" if where == "__init__" else "RuntimeError: crash in run"
    assert crash["error"] == expected and "Traceback" in crash["details"] and crash["output"] is None
    assert sorted(tasks.ran) == ["1", "root"]  # wont_run never ran


def test_a_failing_task_with_retries_runs_again(make_host: HostFactory, tasks: Tasks) -> None:
    calls: list[int] = []

    @tasks.registry.register("flaky")
    def flaky(event: TaskEvent) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ValueError(f"attempt {len(calls)}")
        return "third time"

    host = make_host()
    doc = {"title": "retry", "tasks": [{"id": "a", "name": "flaky", "retry": {"max": 5, "interval": 0.05}}]}
    host.load(tasks.template(doc))
    host.start()
    report = run_to_end(host, "retry")
    assert report["tasks"][0]["state"] == "done" and report["tasks"][0]["attempts"] == 3
    assert report["tasks"][0]["output"] == "third time"

    calls.clear()
    doc = {"title": "retry-out", "tasks": [{"id": "a", "name": "flaky", "retry": {"max": 1, "interval": 0.01}}]}
    host.load(tasks.template(doc))
    report = run_to_end(host, "retry-out")
    assert report["state"] == "done" and len(calls) == 2
    assert report["tasks"][0]["state"] == "failed" and report["tasks"][0]["error"] == "ValueError: attempt 2"


# -- timeouts -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sleep", "sleep-sync"])
def test_a_task_over_its_timeout_is_stopped_torn_down_and_ends_its_branch(
    make_host: HostFactory, tasks: Tasks, name: str
) -> None:
    host = make_host()
    doc = {
        "title": "timeout",
        "tasks": [
            {"id": "root", "name": "basic"},
            {"id": "slow", "name": name, "timeout": 0.2},
            {"id": "after_slow", "name": "basic"},
            {"id": "other", "name": "basic"},
        ],
        "graph": {"root": ["slow", "other"], "slow": ["after_slow"]},
    }
    host.load(tasks.template(doc))
    host.start()
    began = time.monotonic()
    report = run_to_end(host, "timeout")
    assert time.monotonic() - began < FOREVER / 2  # it did not wait for the task
    assert report["state"] == "done"
    assert states(report) == {"root": "done", "slow": "timeout", "after_slow": "pending", "other": "done"}
    assert len(tasks.torn_down) == 1


def test_a_template_timeout_cancels_the_running_task_and_terminates_the_instance(
    make_host: HostFactory, tasks: Tasks
) -> None:
    host = make_host()
    terminated: list[WorkflowTerminated] = []
    host.on_lifecycle_event(terminated.append, WorkflowTerminated)
    doc = {
        "title": "workflow timeout",
        "timeout": 0.3,
        "tasks": [{"id": "1", "name": "sleep"}, {"id": "2", "name": "basic"}],
        "graph": {"1": ["2"]},
    }
    host.load(tasks.template(doc))
    host.start()
    report = run_to_end(host, "workflow timeout")
    assert host.get_workflow_instance(report["id"]).status is WorkflowStatus.TERMINATED
    assert report["state"] == "timeout" and states(report) == {"1": "cancelled", "2": "pending"}
    assert len(tasks.torn_down) == 1
    wait_until(lambda: terminated, WAIT)
    assert [(e.workflow_instance_id, e.reason) for e in terminated] == [(report["id"], "timeout")]


def test_a_template_timeout_ends_an_instance_waiting_for_an_event(make_host: HostFactory, tasks: Tasks) -> None:
    host = make_host()
    doc = {
        "title": "waits too long",
        "timeout": 0.3,
        "tasks": [{"id": "1", "name": "basic"}, {"id": "w", "name": "wait_for", "config": {"event_name": "never"}}],
        "graph": {"1": ["w"]},
    }
    host.load(tasks.template(doc))
    host.start()
    report = run_to_end(host, "waits too long")
    assert report["state"] == "timeout" and states(report) == {"1": "done", "w": "cancelled"}


# -- the broker -----------------------------------------------------------------------------------------
def test_broker_handlers_by_topic_and_for_every_topic(make_host: HostFactory) -> None:
    host = make_host()
    orders: list[BrokerEvent] = []
    everything: list[BrokerEvent] = []
    host.broker.register(orders.append, topic="orders")
    host.broker.register(everything.append)
    host.broker.dispatch({"n": 1}, topic="orders")
    host.broker.dispatch({"n": 2}, topic="refunds")
    host.broker.dispatch({"n": 3})
    assert [(e.data, e.topic, e.source["host_id"]) for e in orders] == [({"n": 1}, "orders", host.id)]
    assert [e.data["n"] for e in everything] == [1, 2, 3]
    assert host.broker.unregister(orders.append, topic="orders") is True
    assert host.broker.unregister(orders.append, topic="orders") is False
    host.broker.dispatch({"n": 4}, topic="orders")
    assert len(orders) == 1 and len(everything) == 4


def test_data_received_dispatches_to_the_broker_and_starts_templates(make_host: HostFactory, tasks: Tasks) -> None:
    host = make_host()
    seen: list[BrokerEvent] = []
    host.broker.register(seen.append, topic="apples")
    host.load(tasks.template({**OK, "topics": ["apples"]}))
    assert len(host.data_received("golden", topic="apples")) == 1
    assert host.data_received("golden", topic="pears") == []
    assert [(e.data, e.topic) for e in seen] == [("golden", "apples")]


def test_a_dispatch_reaches_the_handlers_of_another_host(make_host: HostFactory) -> None:
    a, b = make_host(), make_host()
    got = threading.Event()
    seen: list[BrokerEvent] = []

    def handler(event: BrokerEvent) -> None:
        seen.append(event)
        got.set()

    b.broker.register(handler, topic="news")
    a.broker.dispatch({"headline": "hi"}, topic="news")
    assert got.wait(WAIT)
    assert [(e.data, e.topic, e.source["host_id"]) for e in seen] == [({"headline": "hi"}, "news", a.id)]


def test_the_exec_topic_shows_workflow_and_task_begin_and_end_in_order(make_host: HostFactory, tasks: Tasks) -> None:
    host = make_host()
    seen: list[dict[str, Any]] = []
    host.broker.register(lambda event: seen.append(event.data), topic="liteflow.exec")
    doc = {
        "title": "chain",
        "tasks": [{"id": "a", "name": "basic"}, {"id": "b", "name": "crash"}],
        "graph": {"a": ["b"]},
    }
    host.load(tasks.template(doc))
    host.start()
    report = run_to_end(host, "chain")
    wait_until(lambda: any(d["event"] == "workflow-end" for d in seen), WAIT)
    mine = [d for d in seen if d["workflow_id"] == report["id"]]
    assert [(d["event"], d.get("task_id"), d.get("state")) for d in mine] == [
        ("workflow-begin", None, None),
        ("task-begin", "a", None),
        ("task-end", "a", "done"),
        ("task-begin", "b", None),
        ("task-end", "b", "failed"),
        ("workflow-end", None, "done"),
    ]
    assert all(d["template_id"] == "chain" for d in mine)


# -- topic data for running tasks -----------------------------------------------------------------------
def listener_template(tasks: Tasks, name: str) -> WorkflowTemplate:
    doc = {
        "title": "listener",
        "topics": [],  # started by trigger only: data_received on "feed" must not start another one
        "tasks": [
            {"id": "ready", "name": "signal"},
            {"id": "listen", "name": name, "topics": ["feed", "more"]},
        ],
        "graph": {"ready": ["listen"]},
    }
    return tasks.template(doc)


def feed_once_listening(dispatcher: WorkflowHost, worker: WorkflowHost, wid: str) -> None:
    """Dispatch three items from ``dispatcher`` once ``wid``'s listening task runs on ``worker``."""
    listening = threading.Event()

    def on_exec(event: BrokerEvent) -> None:
        if event.data.get("event") == "task-begin" and event.data.get("task_id") == "listen":
            listening.set()

    dispatcher.broker.register(on_exec, topic="liteflow.exec")
    assert listening.wait(WAIT)  # task-begin comes once the task's topics are listened to
    dispatcher.broker.dispatch("one", topic="feed")
    dispatcher.broker.dispatch("two", topic="elsewhere")  # not one of its topics
    dispatcher.broker.dispatch("three", topic="more")
    dispatcher.data_received("four", topic="feed")  # data_received dispatches too


def _listening(host: WorkflowHost) -> bool:
    return bool(host.broker.handlers("feed"))


@pytest.mark.parametrize("name", ["listen", "listen-sync"])
def test_a_running_task_receives_the_data_dispatched_to_its_topics(
    make_host: HostFactory, tasks: Tasks, name: str
) -> None:
    tasks.registry.add("signal", lambda event: "ready")
    host = make_host()
    host.load(listener_template(tasks, name))
    host.start()
    wid = host.trigger("listener", None)
    assert wid is not None
    feed_once_listening(host, host, wid)
    host.wait_for_workflow(wid, WAIT)
    output = host.report(wid)["tasks"][1]["output"]
    if name == "listen":
        assert output == [
            {"data": "one", "topic": "feed", "from": host.id},
            {"data": "three", "topic": "more", "from": host.id},
            {"data": "four", "topic": "feed", "from": host.id},
        ]
    else:
        assert output == ["one", "three", "four"]
    assert not _listening(host)  # the task's handlers went with it


def test_a_task_on_one_host_receives_data_dispatched_on_another(make_host: HostFactory, tasks: Tasks) -> None:
    tasks.registry.add("signal", lambda event: "ready")
    client, worker = make_host(), make_host()  # the client never starts: the worker runs the task
    for host in (client, worker):
        host.load(listener_template(tasks, "listen"))
    worker.start()
    wid = client.trigger("listener", None)
    assert wid is not None
    feed_once_listening(client, worker, wid)
    client.wait_for_workflow(wid, WAIT)
    report = client.report(wid)
    assert [item["data"] for item in report["tasks"][1]["output"]] == ["one", "three", "four"]
    assert {item["from"] for item in report["tasks"][1]["output"]} == {client.id}


# -- cancel, abort-running, unload, reload --------------------------------------------------------------
def began(host: WorkflowHost, count: int = 1) -> threading.Event:
    """Set once ``count`` tasks have begun (the exec topic's task-begin)."""
    seen: list[Any] = []
    done = threading.Event()

    def on_exec(event: BrokerEvent) -> None:
        if event.data.get("event") == "task-begin":
            seen.append(event.data)
            if len(seen) >= count:
                done.set()

    host.broker.register(on_exec, topic="liteflow.exec")
    return done


def test_cancel_terminates_running_instances_and_tears_their_tasks_down(make_host: HostFactory, tasks: Tasks) -> None:
    host = make_host()
    host.load(tasks.template({"title": "sleeper", "tasks": [{"id": "1", "name": "sleep"}]}))
    host.start()
    running = began(host)
    wid = host.trigger("sleeper", None)
    assert wid is not None and running.wait(WAIT)
    assert host.cancel("sleeper") == 1
    assert host.wait_for_workflow(wid, WAIT).status is WorkflowStatus.TERMINATED
    wait_until(lambda: tasks.torn_down, WAIT)
    report = host.report(wid)
    assert report["state"] == "cancelled"
    wait_until(lambda: host.report(wid)["tasks"][0]["state"] == "cancelled", WAIT)
    assert host.cancel("sleeper") == 0


def test_abort_running_cancels_the_running_task(make_host: HostFactory, tasks: Tasks) -> None:
    host = make_host()
    doc = {"title": "abort", "policy": "abort-running", "tasks": [{"id": "1", "name": "sleep", "timeout": FOREVER}]}
    host.load(tasks.template(doc))
    host.start()
    running = began(host)
    first = host.trigger("abort", None)
    assert first is not None and running.wait(WAIT)
    second = host.trigger("abort", None)
    assert second is not None and second != first
    assert host.wait_for_workflow(first, WAIT).status is WorkflowStatus.TERMINATED
    wait_until(lambda: len(tasks.torn_down) == 1, WAIT)
    assert host.cancel("abort") == 1


def test_unload_and_reload(make_host: HostFactory, tasks: Tasks) -> None:
    host = make_host()
    ok = tasks.template(OK)
    other = tasks.template({**OK, "title": "other"})
    host.load(ok)
    host.load(other)
    assert host.unload("ok") is True and host.unload("ok") is False
    with pytest.raises(WorkflowNotRegisteredError):
        host.trigger("ok", None)
    assert [host.get_workflow_instance(i).workflow_definition_id for i in host.data_received(1)] == ["other"]
    host.reload([ok])
    assert [host.get_workflow_instance(i).workflow_definition_id for i in host.data_received(2)] == ["ok"]
    with pytest.raises(WorkflowNotRegisteredError):
        host.trigger("other", None)
    host.start()
    assert run_to_end(host, "ok")["state"] == "done"


def test_data_dispatched_since_the_instance_started_reaches_a_task_that_starts_later(
    make_host: HostFactory, tasks: Tasks
) -> None:
    host = make_host()
    doc = {
        "title": "gated",
        "topics": [],
        "tasks": [
            {"id": "gate", "name": "wait_for", "config": {"event_name": "go"}},
            {"id": "listen", "name": "listen-sync", "topics": ["feed"]},
        ],
        "graph": {"gate": ["listen"]},
    }
    host.load(tasks.template(doc))
    host.broker.dispatch("before the instance", topic="feed")  # kept, but older than the instance
    host.start()
    wid = host.trigger("gated", None)
    assert wid is not None
    wait_until(lambda: host.report(wid)["tasks"][0]["state"] == "running", WAIT)
    for item in ("one", "two", "three"):
        host.broker.dispatch(item, topic="feed")  # nobody listens yet: kept for the task
    host.publish_event("go", "", None)
    host.wait_for_workflow(wid, WAIT)
    assert host.report(wid)["tasks"][1]["output"] == ["one", "two", "three"]


def test_a_step_body_task_that_raises_ends_its_branch_too(make_host: HostFactory, tasks: Tasks) -> None:
    host = make_host()
    doc = {
        "title": "bad key path",
        "tasks": [
            {"id": "1", "name": "basic"},
            {"id": "w", "name": "wait_for", "config": {"event_name": "e", "event_key_from": "trigger.missing"}},
            {"id": "after_w", "name": "basic"},
            {"id": "2", "name": "basic"},
        ],
        "graph": {"1": ["w", "2"], "w": ["after_w"]},
    }
    host.load(tasks.template(doc))
    host.start()
    report = run_to_end(host, "bad key path", {})
    assert report["state"] == "done"
    assert states(report) == {"1": "done", "w": "failed", "after_w": "pending", "2": "done"}
    assert "KeyError" in report["tasks"][1]["error"] and "trigger.missing" in report["tasks"][1]["error"]


def test_cancel_on_one_host_stops_the_task_running_on_another(make_host: HostFactory, tasks: Tasks) -> None:
    client, worker = make_host(), make_host()
    for host in (client, worker):
        host.load(tasks.template({"title": "far sleeper", "tasks": [{"id": "1", "name": "sleep"}]}))
    worker.start()
    running = began(worker)
    wid = client.trigger("far sleeper", None)
    assert wid is not None and running.wait(WAIT)
    assert client.cancel("far sleeper") == 1  # the WorkflowTerminated reaches the worker through the hub
    wait_until(lambda: tasks.torn_down, WAIT)
    wait_until(lambda: client.report(wid)["tasks"][0]["state"] == "cancelled", WAIT)
    assert client.report(wid)["state"] == "cancelled"
