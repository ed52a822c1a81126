"""A LiteFlow worker node: runs ParcelWorkflow instances until SIGTERM/SIGINT, logging its work at INFO.

With LITEFLOW_START=N it first starts N workflows (one node of docker-compose.yml does). If a store does
not answer at start it exits with status 3 and says which (docker compose restarts it).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from app import NODE, cluster_host

from liteflow.core import ProviderError, StepCompleted, WorkflowCompleted
from liteflow.core.lifecycle import LifecycleEvent

log = logging.getLogger("cluster")


def report(event: LifecycleEvent) -> None:
    """Progress at INFO: each step this node ran, each workflow it finished."""
    if isinstance(event, WorkflowCompleted):
        log.info("%s: workflow %s completed", NODE, event.workflow_instance_id)
    elif isinstance(event, StepCompleted):
        log.info("%s: step %s of workflow %s done", NODE, event.step_id, event.workflow_instance_id)


def main() -> None:
    level = os.environ.get("LITEFLOW_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    host = cluster_host(poll_interval=0.5)
    host.on_lifecycle_event(report, WorkflowCompleted, StepCompleted)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        host.start()
    except ProviderError as exc:
        log.error("%s: cannot start: %s", NODE, exc)
        sys.exit(3)
    started = int(os.environ.get("LITEFLOW_START", "0"))
    for i in range(started):
        host.start_workflow("ParcelWorkflow", None, {"order": i, "parcels": [f"p{i}-{n}" for n in range(3)]})
    log.info("%s: started, %d workflows queued", NODE, started)
    print(f"{NODE}: ready", flush=True)
    stop.wait()
    host.stop()
    log.info("%s: stopped", NODE)
    print(f"{NODE}: stopped", flush=True)


if __name__ == "__main__":
    main()
