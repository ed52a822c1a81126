"""A LiteFlow worker process on a shared SQLite file, for the kill test: runs until SIGTERM (or SIGKILL).

Usage: ``python sqlite_node.py DB_PATH RECORD_DIR LEASE``. Every step run appends a line
``<workflow id> <step> <pid>`` to ``RECORD_DIR/<pid>.log`` (one ``os.write`` on an O_APPEND file: a kill
cuts off at most that line) before the step's result is persisted, so a run whose store was lost to a
kill is still on record.
"""

from __future__ import annotations

import os
import sys
import time

from node_process import serve_until_sigterm

from liteflow.core import StepBody, StepExecutionContext, Workflow, WorkflowBuilder, configure_workflow_host
from liteflow.providers.sqlite import SqliteLockProvider, SqlitePersistenceProvider, SqliteQueueProvider

STEPS = 5
#: Each step takes about this long (seconds), so that kills land while steps run.
STEP_SECONDS = 0.03
_record = -1


class Recorded(StepBody):
    def __init__(self) -> None:
        self.step = 0

    def run(self, context: StepExecutionContext) -> None:
        os.write(_record, f"{context.workflow.id} {self.step} {os.getpid()}\n".encode())
        time.sleep(STEP_SECONDS)


def _step(n: int) -> object:
    return lambda data, context: n


class KillChain(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        chain = builder.start_with(Recorded).input("step", _step(0))
        for n in range(1, STEPS):
            chain = chain.then(Recorded).input("step", _step(n))


def main() -> None:
    global _record
    path, record_dir, lease = sys.argv[1], sys.argv[2], float(sys.argv[3])
    _record = os.open(os.path.join(record_dir, f"{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    host = configure_workflow_host(
        persistence=SqlitePersistenceProvider(path),
        queue=SqliteQueueProvider(path),
        lock=SqliteLockProvider(path, lease=lease),
        poll_interval=0.25,
        max_concurrent_workflows=4,
    )
    host.register_workflow(KillChain())
    serve_until_sigterm(host)


if __name__ == "__main__":
    main()
