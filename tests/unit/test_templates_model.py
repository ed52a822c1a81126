"""Workflow templates: reading, validation, compilation, the task registry and the graph helpers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from liteflow.core import DefinitionError, StepBody, TaskHolder, WorkflowTemplate, configure_workflow_host, register
from liteflow.core.templates import OverrunPolicy, TaskRegistry, default_registry
from liteflow.core.templates.builtins import DelayTask, WaitForTask, lookup
from liteflow.core.templates.graph import find_cycle, parents_of, topological_order
from liteflow.core.templates.holders import HolderTask
from liteflow.core.templates.tasks import TASK_DONE, TaskStep
from liteflow.core.templates.template import Retry

SEED = {
    "title": "workflow #1",
    "policy": "abort-running",
    "topics": ["abort"],
    "tasks": [
        {"id": "f1", "name": "task1"},
        {"id": "f2", "name": "task2"},
        {"id": "f3", "name": "task3"},
        {"id": "f4", "name": "task1"},
        {"id": "f5", "name": "task2"},
        {"id": "f6", "name": "task1", "config": {"value": 1}},
    ],
    "graph": {"f1": ["f2"], "f2": ["f3", "f4"], "f3": ["f5"], "f4": ["f6"], "f5": [], "f6": []},
}


@pytest.fixture
def tasks() -> TaskRegistry:
    registry = TaskRegistry(parent=default_registry)
    for name in ("task1", "task2", "task3"):
        registry.add(name, lambda event: event.data)
    return registry


def template(tasks: list[Any], graph: dict[str, list[str]], **extra: Any) -> dict[str, Any]:
    return {
        "title": "t",
        "tasks": [t if isinstance(t, dict) else {"id": t, "name": "task1"} for t in tasks],
        "graph": graph,
        **extra,
    }


def error(doc: Any) -> str:
    with pytest.raises(DefinitionError) as info:
        WorkflowTemplate.from_dict(doc)
    return str(info.value)


# -- reading --------------------------------------------------------------------------------------------
def test_from_dict_reads_the_seed_format(tasks: TaskRegistry) -> None:
    tpl = WorkflowTemplate.from_dict(SEED, registry=tasks)
    assert tpl.id == "workflow #1" and tpl.title == "workflow #1" and tpl.version == 1
    assert tpl.policy is OverrunPolicy.ABORT_RUNNING
    assert tpl.topics == ["abort"] and tpl.timeout is None
    assert [t.id for t in tpl.tasks] == ["f1", "f2", "f3", "f4", "f5", "f6"]
    assert tpl.tasks[5].config == {"value": 1} and tpl.tasks[0].config == {}
    assert tpl.graph["f2"] == ["f3", "f4"] and tpl.root == "f1"


def test_id_version_timeout_and_defaults() -> None:
    tpl = WorkflowTemplate.from_dict(template(["a"], {}, id="my-id", version=3, timeout=2.5))
    assert (tpl.id, tpl.title, tpl.version, tpl.timeout) == ("my-id", "t", 3, 2.5)
    assert tpl.policy is OverrunPolicy.START_NEW and tpl.topics is None
    bare = WorkflowTemplate.from_dict({"id": "x", "tasks": [{"id": "a", "name": "n"}]})
    assert bare.title is None and bare.graph == {}


def test_from_json_matches_from_dict_and_round_trips(tasks: TaskRegistry) -> None:
    tpl = WorkflowTemplate.from_json(json.dumps(SEED), registry=tasks)
    assert tpl == WorkflowTemplate.from_dict(SEED)
    again = WorkflowTemplate.from_dict(tpl.to_dict())
    assert again == tpl
    with pytest.raises(DefinitionError, match="must be JSON"):
        WorkflowTemplate.from_json("{not json")


# -- validation -----------------------------------------------------------------------------------------
def test_more_than_one_root_names_them() -> None:
    message = error(template(["a", "b", "c", "d"], {"a": ["c"], "b": ["d"]}))
    assert "2 root tasks (a, b)" in message and "'t'" in message


def test_no_root() -> None:
    message = error(template(["a", "b"], {"a": ["b"], "b": ["a"]}))
    assert "no root task" in message and "a -> b -> a" in message


def test_a_cycle_below_the_root_is_named() -> None:
    message = error(template(["r", "a", "b", "c"], {"r": ["a"], "a": ["b"], "b": ["c"], "c": ["a"]}))
    assert "cycle: a -> b -> c -> a" in message
    assert "cycle: a -> a" in error(template(["r", "a"], {"r": ["a"], "a": ["a"]}))


def test_graph_keys_and_targets_must_be_task_ids() -> None:
    assert "entry for 'zz', which is not a task id" in error(template(["a"], {"zz": []}))
    assert "links 'a' to 'zz', which is not a task id" in error(template(["a"], {"a": ["zz"]}))
    assert "same task twice" in error(template(["a", "b"], {"a": ["b", "b"]}))
    assert "must be a list of task ids" in error(template(["a", "b"], {"a": "b"}))


def test_duplicate_task_id() -> None:
    assert "duplicate task id 'a'" in error(template(["a", "b", "a"], {"a": ["b"]}))


def test_bad_policy_name() -> None:
    message = error(template(["a"], {}, policy="sometimes"))
    assert "unknown policy 'sometimes'" in message and "'skip-until-unlock'" in message


def test_unknown_task_name_at_load() -> None:
    tpl = WorkflowTemplate.from_dict(template([{"id": "a", "name": "no-such-task"}], {}))
    host = configure_workflow_host()
    with pytest.raises(DefinitionError, match="task 'a' uses the unknown task name 'no-such-task'"):
        host.register_workflow(tpl)
    with pytest.raises(DefinitionError, match="unknown task name"):
        host.load(tpl)
    with pytest.raises(DefinitionError, match="unknown task name"):
        tpl.validate()


def test_malformed_documents() -> None:
    assert "needs an 'id' or a 'title'" in error({"tasks": [{"id": "a", "name": "n"}]})
    assert "is a dict" in error(["not", "a", "dict"])
    assert "has no tasks" in error({"title": "t", "tasks": []})
    assert "'tasks' must be a list" in error({"title": "t"})
    assert "tasks[0] needs an 'id'" in error({"title": "t", "tasks": [{"name": "n"}]})
    assert "task 'a' needs a 'name'" in error({"title": "t", "tasks": [{"id": "a"}]})
    assert "'config' must be a dict" in error({"title": "t", "tasks": [{"id": "a", "name": "n", "config": 3}]})
    assert "'topics' must be a list" in error(template(["a"], {}, topics="orders"))
    assert "'timeout' must be a number" in error(template(["a"], {}, timeout=-1))
    assert "'version' must be an int" in error(template(["a"], {}, version="2"))


def test_builtin_task_configs_are_checked_at_load() -> None:
    host = configure_workflow_host()
    bad = [
        ({"id": "w", "name": "wait_for"}, "needs an event_name"),
        (
            {"id": "w", "name": "wait_for", "config": {"event_name": "e", "event_key": "k", "event_key_from": "x"}},
            "not both",
        ),
        ({"id": "d", "name": "delay", "config": {"seconds": -1}}, "seconds"),
        ({"id": "d", "name": "delay"}, "seconds"),
    ]
    for task, message in bad:
        with pytest.raises(DefinitionError, match=message):
            host.load(WorkflowTemplate.from_dict(template([task], {})))


# -- compiling ------------------------------------------------------------------------------------------
def test_compiles_to_a_definition_rooted_at_step_zero(tasks: TaskRegistry) -> None:
    doc = template(["d", "b", "a", "c"], {"a": ["b", "c"], "b": ["d"], "c": ["d"]}, version=2)
    definition = WorkflowTemplate.from_dict(doc, registry=tasks).to_definition()
    assert (definition.id, definition.version, definition.description) == ("t", 2, "t")
    assert [s.name for s in definition.steps] == ["a", "b", "c", "d"]
    assert all(s.body_type is TaskStep for s in definition.steps)
    assert [(o.next_step, o.value) for o in definition.steps[0].outcomes] == [(1, TASK_DONE), (2, TASK_DONE)]
    assert [o.next_step for o in definition.steps[1].outcomes] == [3]
    assert definition.steps[3].outcomes == []
    assert isinstance(definition.steps[3].new_body(), TaskStep)
    assert definition.steps[3].new_body().spec.parents == ("b", "c")  # type: ignore[attr-defined]
    assert callable(definition.extra["on_register"])


def test_register_workflow_accepts_a_template(tasks: TaskRegistry) -> None:
    host = configure_workflow_host()
    definition = host.register_workflow(WorkflowTemplate.from_dict(SEED, registry=tasks))
    assert host.registry.get("workflow #1") is definition
    with pytest.raises(DefinitionError, match="already registered"):
        host.register_workflow(WorkflowTemplate.from_dict(SEED, registry=tasks))
    assert host.load(WorkflowTemplate.from_dict(SEED, registry=tasks)) is definition  # the same: loaded again
    changed = WorkflowTemplate.from_dict({**SEED, "policy": "skip"}, registry=tasks)
    with pytest.raises(DefinitionError, match="registered with other content"):
        host.load(changed)


# -- the registry ---------------------------------------------------------------------------------------
def test_registry_takes_functions_coroutines_and_step_bodies() -> None:
    registry = TaskRegistry()

    @registry.register("sync")
    def sync(event: Any) -> Any:
        return event

    @registry.register("async")
    async def coro(event: Any) -> Any:
        return event

    @registry.register("body")
    class Body(StepBody):
        pass

    assert registry.get("sync") is sync and registry.get("async") is coro and registry.get("body") is Body
    assert registry.names() == ["async", "body", "sync"] and "sync" in registry and "nope" not in registry
    with pytest.raises(TypeError, match="not a StepBody subclass"):
        registry.add("cls", dict)
    with pytest.raises(TypeError, match="function or a StepBody subclass"):
        registry.add("instance", Body())
    with pytest.raises(ValueError, match="non-empty string"):
        registry.add("", sync)


def test_module_level_register_and_builtins() -> None:
    @register("tpl-unit-bare-name")
    def named(event: Any) -> Any:
        return event

    @register
    def tpl_unit_bare(event: Any) -> Any:
        return event

    assert default_registry.get("tpl-unit-bare-name") is named
    assert default_registry.get("tpl_unit_bare") is tpl_unit_bare
    assert default_registry.get("wait_for") is WaitForTask and default_registry.get("delay") is DelayTask
    assert TaskRegistry().get("wait_for") is None
    assert TaskRegistry(parent=default_registry).get("delay") is DelayTask


def test_listens_to_follows_tukio() -> None:
    everything = WorkflowTemplate.from_dict(template(["a"], {}))
    some = WorkflowTemplate.from_dict(template(["a"], {}, topics=["x", "y"]))
    nothing = WorkflowTemplate.from_dict(template(["a"], {}, topics=[]))
    assert everything.listens_to(None) and everything.listens_to("x")
    assert some.listens_to("x") and not some.listens_to("z") and not some.listens_to(None)
    assert not nothing.listens_to(None) and not nothing.listens_to("x")


def test_policy_parse() -> None:
    assert OverrunPolicy.parse(None) is OverrunPolicy.START_NEW
    assert OverrunPolicy.parse("skip") is OverrunPolicy.SKIP
    with pytest.raises(DefinitionError):
        OverrunPolicy.parse("never")


# -- the graph ------------------------------------------------------------------------------------------
def test_graph_helpers() -> None:
    ids = ["d", "c", "b", "a"]
    graph = {"a": ["c", "b"], "c": ["d"], "b": ["d"]}
    assert parents_of(ids, graph) == {"d": ["c", "b"], "c": ["a"], "b": ["a"], "a": []}
    assert topological_order(ids, graph) == ["a", "c", "b", "d"]
    assert find_cycle(ids, graph) is None
    assert find_cycle(["a", "b", "c"], {"a": ["b"], "b": ["c"], "c": ["b"]}) == ["b", "c", "b"]


def test_lookup_paths() -> None:
    data = {"trigger": {"order": "A-1", "items": [{"sku": 7}]}}
    assert lookup(data, "trigger.order") == "A-1"
    assert lookup(data, "trigger.items.0.sku") == 7
    with pytest.raises(KeyError, match="'missing'"):
        lookup(data, "trigger.missing")


# -- unknown keys, the task fields tukio adds, as_dict ----------------------------------------------------
def test_an_unknown_template_key_names_it_the_known_ones_and_the_close_one() -> None:
    doc = template([{"id": "a", "name": "task1"}], {}, topic=["orders"])  # "topic" for "topics"
    with pytest.raises(DefinitionError) as err:
        WorkflowTemplate.from_dict(doc)
    message = str(err.value)
    assert "unknown key 'topic'" in message and "did you mean 'topics'?" in message
    assert "known: id, title, version, policy, topics, timeout, tasks, graph" in message
    with pytest.raises(DefinitionError, match=r"unknown key 'colour' \(known: [^)]*\)$"):
        WorkflowTemplate.from_dict(template([{"id": "a", "name": "task1"}], {}, colour="red"))


def test_an_unknown_task_key_names_the_task_and_the_close_one() -> None:
    for key, close in (("topic", "topics"), ("timout", "timeout"), ("configs", "config")):
        doc = template([{"id": "a", "name": "task1", key: 1}], {})
        with pytest.raises(DefinitionError, match=rf"task 'a': unknown key '{key}' .*did you mean '{close}'"):
            WorkflowTemplate.from_dict(doc)
    doc = template([{"id": "a", "name": "task1", "retry": {"max": 1, "intervall": 2}}], {})
    with pytest.raises(DefinitionError, match=r"retry: unknown key 'intervall' .*did you mean 'interval'"):
        WorkflowTemplate.from_dict(doc)


def test_task_topics_timeout_and_retry_are_read_and_checked() -> None:
    task = {"id": "a", "name": "task1", "topics": ["t"], "timeout": 2, "retry": {"max": 3, "interval": 0.5}}
    read = WorkflowTemplate.from_dict(template([task], {})).tasks[0]
    assert (read.topics, read.timeout, read.retry) == (("t",), 2.0, Retry(3, 0.5))
    for bad in ({"topics": "t"}, {"timeout": -1}, {"retry": {"max": -1}}, {"retry": 3}, {"retry": {"interval": 1}}):
        with pytest.raises(DefinitionError, match="task 'a'"):
            WorkflowTemplate.from_dict(template([{"id": "a", "name": "task1", **bad}], {}))


def test_as_dict_round_trips_from_dict(tasks: TaskRegistry) -> None:
    doc = {
        **SEED,
        "timeout": 30,
        "tasks": [
            *SEED["tasks"][:5],  # type: ignore[index]
            {"id": "f6", "name": "task1", "config": {"v": 1}, "topics": ["t"], "timeout": 1.5, "retry": {"max": 2}},
        ],
    }
    first = WorkflowTemplate.from_dict(doc, registry=tasks)
    again = WorkflowTemplate.from_dict(first.as_dict(), registry=tasks)
    assert again == first and again.as_dict() == first.as_dict()
    assert first.as_dict()["tasks"][5] == {
        "id": "f6", "name": "task1", "config": {"v": 1}, "topics": ["t"], "timeout": 1.5,
        "retry": {"max": 2, "interval": 0.0},
    }  # fmt: skip
    assert json.loads(json.dumps(first.as_dict())) == first.as_dict()


# -- task holders -----------------------------------------------------------------------------------------
def test_register_a_holder_class_with_its_method() -> None:
    registry = TaskRegistry()

    @register("holder", "do_it", registry=registry)
    class Holder(TaskHolder):
        async def do_it(self, event: Any) -> Any:
            return self.config

    @registry.register("plain", "run_it")
    class Plain:  # a holder need not inherit TaskHolder
        def __init__(self, config: dict[str, Any]) -> None:
            self.config = config

        def run_it(self, event: Any) -> Any:
            return self.config

    held = registry.get("holder")
    assert isinstance(held, HolderTask) and held.cls is Holder and held.method == "do_it" and held.is_async
    assert registry.get("plain") == HolderTask(Plain, "run_it") and not HolderTask(Plain, "run_it").is_async
    with pytest.raises(AttributeError, match="yolo"):
        registry.add("bad", Holder, "yolo")
    with pytest.raises(TypeError, match="with its method"):
        registry.add("bad", Plain)
    with pytest.raises(TypeError, match="method"):
        registry.add("bad", Holder, "")
    assert "bad" not in registry
    base = TaskHolder({"k": 1})
    assert base.config == {"k": 1} and base.uid and base.report() is None and base.teardown() is None
    assert TaskHolder().config == {} and TaskHolder().uid != base.uid
