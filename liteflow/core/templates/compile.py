"""Compiling a :class:`WorkflowTemplate` into the :class:`WorkflowDefinition` hosts run.

One :class:`~liteflow.core.definition.WorkflowStep` per task, in topological order (the root is step 0,
where instances start), named after the task id. Each graph edge ``a -> b`` is an outcome of ``a``'s step
with the value :data:`~liteflow.core.templates.tasks.TASK_DONE`: a finished task starts a pointer per
child, so branches are separate pointers of the same instance. A task with several parents is a join
(see :mod:`liteflow.core.templates.tasks`). The instance completes when every pointer has ended.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from liteflow.core.definition import Outcome, WorkflowDefinition, WorkflowStep
from liteflow.core.errors import DefinitionError
from liteflow.core.templates.deadline import TemplateDeadline
from liteflow.core.templates.graph import topological_order
from liteflow.core.templates.registry import TaskRegistry, default_registry
from liteflow.core.templates.tasks import TASK_DONE, TaskSpec, TaskStep, is_body_task

if TYPE_CHECKING:
    from liteflow.core.templates.template import WorkflowTemplate


def resolve(template: WorkflowTemplate, registry: TaskRegistry, task_id: str, name: str, config: dict[str, Any]) -> Any:
    impl = registry.get(name)
    if impl is None:
        known = ", ".join(registry.names())
        raise DefinitionError(
            f"{template.where}: task {task_id!r} uses the unknown task name {name!r} (known: {known})"
        )
    check = getattr(impl, "validate_config", None) if is_body_task(impl) else None
    if callable(check):
        try:
            check(config)
        except (TypeError, ValueError) as exc:
            raise DefinitionError(f"{template.where}: task {task_id!r} ({name}): {exc}") from exc
    return impl


def compile_template(template: WorkflowTemplate, registry: TaskRegistry | None = None) -> WorkflowDefinition:
    template.check_graph()
    registry = registry or default_registry
    tasks = {t.id: t for t in template.tasks}
    parents = template.parents()
    order = topological_order(template.task_ids, template.graph)
    index = {task_id: i for i, task_id in enumerate(order)}
    steps = []
    for i, task_id in enumerate(order):
        task = tasks[task_id]
        impl = resolve(template, registry, task_id, task.name, task.config)
        spec = TaskSpec(
            task_id,
            task.name,
            template.id,
            dict(task.config),
            tuple(parents[task_id]),
            topics=task.topics,
            timeout=task.timeout,
            retry_max=task.retry.max if task.retry is not None else 0,
            retry_interval=task.retry.interval if task.retry is not None else 0.0,
            template_timeout=template.timeout,
        )
        step = WorkflowStep(id=i, body_factory=partial(TaskStep, spec, impl), body_type=TaskStep, name=task_id)
        step.outcomes = [Outcome(index[child], TASK_DONE) for child in template.graph.get(task_id, [])]
        steps.append(step)
    extra: dict[str, Any] = {"template": template, "on_register": partial(_loaded, template)}
    if template.timeout is not None:
        extra["pass_hook"] = TemplateDeadline(template.timeout)
    return WorkflowDefinition(
        id=template.id, version=template.version, steps=steps, description=template.title, extra=extra
    )


def _loaded(template: WorkflowTemplate, host: Any) -> None:
    from liteflow.core.templates.trigger import templates_of

    templates_of(host).add(template)
