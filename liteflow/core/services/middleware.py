"""The workflow middleware of a host: callables run before an instance starts, after every pass, and
after it completes (``host.add_workflow_middleware``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from liteflow.core.log import logger
from liteflow.core.models import WorkflowInstance

log = logger("host")

WorkflowMiddleware = Callable[[WorkflowInstance], Any]
PHASES = ("pre", "post", "execute")


class WorkflowMiddlewares:
    """The middleware of each phase, in the order added: "pre" (raising refuses the start), "execute"
    (after every execution pass) and "post" (after the instance completes); a failure in the last two
    is logged, never raised."""

    def __init__(self) -> None:
        self.phases: dict[str, list[WorkflowMiddleware]] = {phase: [] for phase in PHASES}

    def add(self, phase: str, middleware: WorkflowMiddleware) -> None:
        if phase not in self.phases:
            raise ValueError(f"unknown middleware phase {phase!r}: use 'pre', 'post' or 'execute'")
        self.phases[phase].append(middleware)

    def has(self, phase: str) -> bool:
        return bool(self.phases.get(phase))

    def run_pre(self, instance: WorkflowInstance) -> None:
        """Before an instance is created: what a middleware raises propagates (the start is refused)."""
        for middleware in self.phases["pre"]:
            middleware(instance)

    def run_quietly(self, phase: str, instance: WorkflowInstance) -> None:
        """Every middleware of ``phase``; one that raises is logged and the rest still run."""
        for middleware in self.phases[phase]:
            try:
                middleware(instance)
            except Exception as exc:
                log.warning("middleware.failed", phase=phase, workflow_id=instance.id, error=str(exc))
