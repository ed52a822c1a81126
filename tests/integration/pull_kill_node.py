"""A LiteFlow worker process on a shared SQLite file, for the recheck kill test: runs ``WaitsForGo`` until
SIGTERM.

Usage: ``python pull_kill_node.py DB_PATH``. With LITEFLOW_KILL_AFTER_SUBSCRIBE=1 in its environment,
the process SIGKILLs itself right after it stores a pass that makes a subscription: after the write, before
the pull for events published earlier (a crash at the worst moment for such an event).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from typing import Any

from node_process import serve_until_sigterm

from liteflow.core import Workflow, WorkflowBuilder, configure_workflow_host
from liteflow.core.models import EventSubscription, WorkflowInstance
from liteflow.providers.sqlite import SqliteLockProvider, SqlitePersistenceProvider, SqliteQueueProvider

LEASE = 1.0
RECHECK = 1.5


class WaitsForGo(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda context: None)
            .wait_for("go", lambda data, context: "k", lambda data, context: context.workflow.create_time)
            .output("received", lambda step: step.event_data)
        )


def kill_after_subscribing(persistence: SqlitePersistenceProvider) -> None:
    persist = persistence.persist_workflow

    def persist_then_die(
        instance: WorkflowInstance,
        subscriptions: Sequence[EventSubscription] = (),
        ended_subscriptions: Sequence[str] = (),
        control_applied: str | None = None,
    ) -> Any:
        persist(instance, subscriptions, ended_subscriptions, control_applied)
        if subscriptions:
            os.kill(os.getpid(), signal.SIGKILL)

    persistence.persist_workflow = persist_then_die  # type: ignore[method-assign]


def main() -> None:
    path = sys.argv[1]
    persistence = SqlitePersistenceProvider(path)
    if os.environ.get("LITEFLOW_KILL_AFTER_SUBSCRIBE") == "1":
        kill_after_subscribing(persistence)
    host = configure_workflow_host(
        persistence=persistence,
        queue=SqliteQueueProvider(path),
        lock=SqliteLockProvider(path, lease=LEASE),
        poll_interval=0.1,
        event_recheck_delay=RECHECK,
    )
    host.register_workflow(WaitsForGo())
    serve_until_sigterm(host)


if __name__ == "__main__":
    main()
