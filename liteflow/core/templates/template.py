"""``WorkflowTemplate``: a workflow described as data (tukio's format), and its validation.

::

    {
        "title": "workflow #1",            # the id when there is no "id"
        "id": "wf1", "version": 1,         # optional
        "policy": "start-new",             # optional: start-new, skip, skip-until-unlock, abort-running
        "topics": ["orders"],              # optional: None = every topic, [] = none, a list = those
        "timeout": 60,                     # optional, seconds: the instance is terminated after that
        "tasks": [{"id": "f1", "name": "my-task1", "config": {...},
                   "topics": ["t"],        # optional: data dispatched there while the task runs
                   "timeout": 5,           # optional, seconds: then the task ends as "timeout"
                   "retry": {"max": 3, "interval": 1.0}}, ...],   # optional: on failure
        "graph": {"f1": ["f2"], "f2": []}  # adjacency list of a DAG with a single root
    }

``from_dict`` checks the structure; task names are checked against the registry when the template is
compiled (``host.register_workflow(template)`` / ``host.load(template)``), so tasks may be registered
after the template is read. Every problem is a :class:`~liteflow.core.errors.DefinitionError`, an unknown
key too (``"topic"`` for ``"topics"``): the message names it, the known keys and the close one.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from liteflow.core.errors import DefinitionError
from liteflow.core.templates.graph import find_cycle, parents_of, roots
from liteflow.core.templates.policies import OverrunPolicy

if TYPE_CHECKING:
    from liteflow.core.definition import WorkflowDefinition
    from liteflow.core.templates.registry import TaskRegistry


TEMPLATE_KEYS = ("id", "title", "version", "policy", "topics", "timeout", "tasks", "graph")
TASK_KEYS = ("id", "name", "config", "topics", "timeout", "retry")
RETRY_KEYS = ("max", "interval")


@dataclass(frozen=True)
class Retry:
    """A task's ``"retry"``: up to ``max`` more attempts after a failure, ``interval`` seconds apart."""

    max: int
    interval: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"max": self.max, "interval": self.interval}


@dataclass(frozen=True)
class TaskTemplate:
    id: str
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    topics: tuple[str, ...] = ()
    timeout: float | None = None
    retry: Retry | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "name": self.name}
        if self.config:
            doc["config"] = self.config
        if self.topics:
            doc["topics"] = list(self.topics)
        if self.timeout is not None:
            doc["timeout"] = self.timeout
        if self.retry is not None:
            doc["retry"] = self.retry.to_dict()
        return doc


@dataclass
class WorkflowTemplate:
    id: str
    tasks: list[TaskTemplate]
    graph: dict[str, list[str]]
    version: int = 1
    title: str | None = None
    policy: OverrunPolicy = OverrunPolicy.START_NEW
    topics: list[str] | None = None
    timeout: float | None = None
    #: Where task names are looked up (default: the registry ``@register`` fills).
    registry: TaskRegistry | None = field(default=None, repr=False, compare=False)

    # -- reading ---------------------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, doc: Any, registry: TaskRegistry | None = None) -> WorkflowTemplate:
        if not isinstance(doc, dict):
            raise DefinitionError(f"a workflow template is a dict, got {type(doc).__name__}")
        template_id = doc.get("id") or doc.get("title")
        if not isinstance(template_id, str) or not template_id:
            raise DefinitionError("a workflow template needs an 'id' or a 'title' (a non-empty string)")
        where = f"workflow template {template_id!r}"
        check_keys(doc, TEMPLATE_KEYS, where)
        template = cls(
            id=template_id,
            tasks=_tasks(doc.get("tasks"), where),
            graph=_graph(doc.get("graph"), where),
            version=_version(doc.get("version", 1), where),
            title=doc.get("title"),
            policy=_prefixed(where, OverrunPolicy.parse, doc.get("policy")),
            topics=_topics(doc.get("topics"), where),
            timeout=_timeout(doc.get("timeout"), where),
            registry=registry,
        )
        template.check_graph()
        return template

    @classmethod
    def from_json(cls, text: str | bytes, registry: TaskRegistry | None = None) -> WorkflowTemplate:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise DefinitionError(f"a workflow template must be JSON: {exc}") from exc
        return cls.from_dict(doc, registry)

    def as_dict(self) -> dict[str, Any]:
        """The template as ``from_dict`` reads it (tukio's name): ``from_dict(t.as_dict()) == t``."""
        return self.to_dict()

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"id": self.id, "version": self.version}
        if self.title is not None:
            doc["title"] = self.title
        doc["policy"] = self.policy.value
        if self.topics is not None:
            doc["topics"] = list(self.topics)
        if self.timeout is not None:
            doc["timeout"] = self.timeout
        doc["tasks"] = [t.to_dict() for t in self.tasks]
        doc["graph"] = {k: list(v) for k, v in self.graph.items()}
        return doc

    # -- the graph -------------------------------------------------------------------------------------
    @property
    def where(self) -> str:
        return f"workflow template {self.id!r}"

    @property
    def task_ids(self) -> list[str]:
        return [t.id for t in self.tasks]

    def parents(self) -> dict[str, list[str]]:
        return parents_of(self.task_ids, self.graph)

    @property
    def root(self) -> str:
        return roots(self.task_ids, self.parents())[0]

    def listens_to(self, topic: str | None) -> bool:
        """tukio's selection: no topics listens to everything (topic None too); a list only to its topics."""
        return self.topics is None or (topic is not None and topic in self.topics)

    def check_graph(self) -> None:
        """Duplicate ids, unknown ids in the graph, the single root and cycles."""
        ids = self.task_ids
        if not ids:
            raise DefinitionError(f"{self.where}: has no tasks")
        seen: set[str] = set()
        for task_id in ids:
            if task_id in seen:
                raise DefinitionError(f"{self.where}: duplicate task id {task_id!r}")
            seen.add(task_id)
        for upstream, downstream in self.graph.items():
            if upstream not in seen:
                raise DefinitionError(f"{self.where}: the graph has an entry for {upstream!r}, which is not a task id")
            for task_id in downstream:
                if task_id not in seen:
                    raise DefinitionError(
                        f"{self.where}: the graph links {upstream!r} to {task_id!r}, which is not a task id"
                    )
            if len(set(downstream)) != len(downstream):
                raise DefinitionError(f"{self.where}: the graph links {upstream!r} to the same task twice")
        found = roots(ids, self.parents())
        if len(found) > 1:
            raise DefinitionError(
                f"{self.where}: has {len(found)} root tasks ({', '.join(found)}); a template needs exactly one"
            )
        cycle = find_cycle(ids, self.graph)
        if not found:
            detail = f" (cycle: {' -> '.join(cycle)})" if cycle else ""
            raise DefinitionError(f"{self.where}: has no root task: every task has a parent{detail}")
        if cycle:
            raise DefinitionError(f"{self.where}: the graph has a cycle: {' -> '.join(cycle)}")

    # -- compiling -------------------------------------------------------------------------------------
    def validate(self, registry: TaskRegistry | None = None) -> None:
        """Everything, task names and built-in task configs included."""
        self.to_definition(registry)

    def to_definition(self, registry: TaskRegistry | None = None) -> WorkflowDefinition:
        """The workflow definition hosts run (``register_workflow`` calls this)."""
        from liteflow.core.templates.compile import compile_template

        return compile_template(self, registry or self.registry)


def _prefixed(where: str, parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except DefinitionError as exc:
        raise DefinitionError(f"{where}: {exc}") from None


def _tasks(value: Any, where: str) -> list[TaskTemplate]:
    if not isinstance(value, list):
        raise DefinitionError(f"{where}: 'tasks' must be a list of {{'id', 'name', 'config'}} dicts")
    tasks = []
    for i, doc in enumerate(value):
        if not isinstance(doc, dict):
            raise DefinitionError(f"{where}: tasks[{i}] must be a dict, got {type(doc).__name__}")
        task_id, name, config = doc.get("id"), doc.get("name"), doc.get("config")
        if not isinstance(task_id, str) or not task_id:
            raise DefinitionError(f"{where}: tasks[{i}] needs an 'id' (a non-empty string)")
        here = f"{where}: task {task_id!r}"
        check_keys(doc, TASK_KEYS, here)
        if not isinstance(name, str) or not name:
            raise DefinitionError(f"{here} needs a 'name' (a non-empty string)")
        if config is not None and not isinstance(config, dict):
            raise DefinitionError(f"{here}: 'config' must be a dict")
        topics = _topics(doc.get("topics"), here)
        timeout = _timeout(doc.get("timeout"), here)
        task = TaskTemplate(task_id, name, dict(config or {}), tuple(topics or ()), timeout, _retry(doc, here))
        tasks.append(task)
    return tasks


def check_keys(doc: dict[str, Any], known: tuple[str, ...], where: str) -> None:
    """DefinitionError for a key not in ``known``, naming the known keys and the close one if any."""
    for key in doc:
        if key in known:
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise DefinitionError(f"{where}: unknown key {key!r} (known: {', '.join(known)}){hint}")


def _retry(doc: dict[str, Any], where: str) -> Retry | None:
    value = doc.get("retry")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise DefinitionError(f"{where}: 'retry' must be a dict like {{'max': 3, 'interval': 1.0}}")
    check_keys(value, RETRY_KEYS, f"{where}: retry")
    count, interval = value.get("max"), value.get("interval", 0.0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise DefinitionError(f"{where}: retry 'max' must be an int >= 0, got {count!r}")
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval < 0:
        raise DefinitionError(f"{where}: retry 'interval' must be a number of seconds >= 0, got {interval!r}")
    return Retry(count, float(interval))


def _graph(value: Any, where: str) -> dict[str, list[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DefinitionError(f"{where}: 'graph' must be a dict of task id -> list of task ids")
    graph = {}
    for upstream, downstream in value.items():
        if downstream is None:
            downstream = []
        if not isinstance(downstream, list) or not all(isinstance(t, str) for t in downstream):
            raise DefinitionError(f"{where}: graph[{upstream!r}] must be a list of task ids")
        graph[upstream] = list(downstream)
    return graph


def _version(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DefinitionError(f"{where}: 'version' must be an int, got {value!r}")
    return value


def _topics(value: Any, where: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise DefinitionError(f"{where}: 'topics' must be a list of strings, got {value!r}")
    return list(value)


def _timeout(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise DefinitionError(f"{where}: 'timeout' must be a number of seconds >= 0, got {value!r}")
    return float(value)


__all__ = ["Retry", "TaskTemplate", "WorkflowTemplate", "check_keys"]
