"""Starting template instances: ``host.data_received(data, topic)`` and ``host.trigger(template_id, data)``;
``host.unload``, ``host.reload`` and ``host.cancel``.

Each host keeps the templates loaded into it (the latest version of each id); both calls apply the
template's overrun policy (:mod:`liteflow.core.templates.policies`) and return the ids of the instances
they started (``trigger``: the id, or None when the policy skipped it). ``data_received`` also dispatches
the data on the host's broker (to ``topic``).

Unloading a template stops new instances of it on this host; its definition stays registered, so its
running instances finish (``cancel`` ends them).
"""

from __future__ import annotations

import threading
import weakref
from functools import partial
from typing import TYPE_CHECKING, Any

from liteflow.core.errors import DefinitionError, WorkflowNotRegisteredError
from liteflow.core.templates.hooks import follow, terminate_and_cancel
from liteflow.core.templates.inbox import TopicKeeper
from liteflow.core.templates.per_host import PerHost
from liteflow.core.templates.policies import RunningInstances, apply_policy
from liteflow.core.templates.tasks import initial_data

if TYPE_CHECKING:
    from liteflow.core.templates.template import WorkflowTemplate


class TemplateTriggers:
    """The templates loaded into one host, and starting their instances."""

    def __init__(self, host: Any) -> None:
        self._host = weakref.ref(host)
        self._templates: dict[str, WorkflowTemplate] = {}
        self._mutex = threading.Lock()

    @property
    def host(self) -> Any:
        host = self._host()
        assert host is not None, "the host is gone"
        return host

    def add(self, template: WorkflowTemplate) -> None:
        with self._mutex:
            current = self._templates.get(template.id)
            if current is None or template.version >= current.version:
                self._templates[template.id] = template

    def remove(self, template_id: str) -> bool:
        with self._mutex:
            return self._templates.pop(template_id, None) is not None

    def task_topics(self) -> set[str]:
        """The topics the tasks of the loaded templates listen to."""
        return {topic for template in self.templates() for task in template.tasks for topic in task.topics}

    def templates(self) -> list[WorkflowTemplate]:
        with self._mutex:
            return list(self._templates.values())

    def get(self, template_id: str) -> WorkflowTemplate:
        with self._mutex:
            template = self._templates.get(template_id)
        if template is None:
            raise WorkflowNotRegisteredError(template_id)
        return template

    def data_received(self, data: Any, topic: str | None = None) -> list[str]:
        self.host.broker.dispatch(data, topic)
        started = []
        for template in self.templates():
            if template.listens_to(topic):
                workflow_id = self.start(template, data, topic)
                if workflow_id is not None:
                    started.append(workflow_id)
        return started

    def trigger(self, template_id: str, data: Any) -> str | None:
        return self.start(self.get(template_id), data, None)

    def start(self, template: WorkflowTemplate, data: Any, topic: str | None) -> str | None:
        host = self.host

        def launch(workflow_id: str) -> str:
            data_ = initial_data(data, topic)
            return str(host.start_instance(template.id, template.version, data_, workflow_id=workflow_id))

        return apply_policy(
            template.policy, template.id, host.persistence, host.lock, launch, partial(terminate_and_cancel, host)
        )

    # -- loading and unloading -------------------------------------------------------------------------
    def load(self, template: WorkflowTemplate) -> Any:
        """Register the template's definition (or, registered already with the same content, load it again)."""
        host = self.host
        existing = host.registry.find(template.id, template.version)
        if existing is None:
            return host.register_workflow(template)
        if existing.extra.get("template") != template:
            raise DefinitionError(
                f"{template.where} version {template.version} is registered with other content: give it a new version"
            )
        self.add(template)
        return existing

    def reload(self, templates: list[WorkflowTemplate]) -> list[Any]:
        """Load ``templates`` and unload every other template: they are what this host triggers from now on."""
        definitions = [self.load(template) for template in templates]
        keep = {template.id for template in templates}
        for template in self.templates():
            if template.id not in keep:
                self.remove(template.id)
        return definitions

    def cancel(self, template_id: str) -> int:
        """Terminate the running instances of a template (on every host); how many."""
        host = self.host
        running = RunningInstances(host.persistence).running(template_id)
        return sum(1 for instance in running if terminate_and_cancel(host, instance.id))


def _triggers(host: Any) -> TemplateTriggers:
    """A host's first template: its triggers, the hooks that cancel tasks, the broker's topic keeper."""
    triggers = TemplateTriggers(host)
    follow(host)
    host.broker.keeper = TopicKeeper(host.persistence, triggers.task_topics)
    return triggers


_hosts: PerHost[TemplateTriggers] = PerHost(_triggers)


def templates_of(host: Any) -> TemplateTriggers:
    """The templates loaded into ``host`` (made on first use)."""
    return _hosts.of(host)
