"""Starting template instances: ``host.data_received(data, topic)`` and ``host.trigger(template_id, data)``.

Each host keeps the templates loaded into it (the latest version of each id); both calls apply the
template's overrun policy (:mod:`liteflow.core.templates.policies`) and return the ids of the instances
they started (``trigger``: the id, or None when the policy skipped it).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from liteflow.core.errors import WorkflowNotRegisteredError
from liteflow.core.templates.policies import apply_policy
from liteflow.core.templates.tasks import initial_data
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

        def launch() -> str:
            return str(host.start_instance(template.id, template.version, initial_data(data, topic)))

        return apply_policy(template.policy, template.id, host.persistence, host.lock, launch, host.terminate_workflow)


_hosts: weakref.WeakKeyDictionary[Any, TemplateTriggers] = weakref.WeakKeyDictionary()
_hosts_mutex = threading.Lock()


def templates_of(host: Any) -> TemplateTriggers:
    """The templates loaded into ``host`` (made on first use)."""
    with _hosts_mutex:
        triggers = _hosts.get(host)
        if triggers is None:
            triggers = _hosts[host] = TemplateTriggers(host)
        return triggers
