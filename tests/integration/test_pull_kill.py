"""A worker process SIGKILLed right after it stored a ``wait_for`` pass, before its pull for the events
published earlier: the event, marked processed before anyone waited, still reaches the workflow, from
another process, at the wait's recheck."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from node_process import launch, ready, stop_nodes
from pull_kill_node import LEASE, RECHECK, WaitsForGo

from liteflow.core import WorkflowStatus, configure_workflow_host
from liteflow.core.models import PointerStatus
from liteflow.providers.sqlite import SqliteLockProvider, SqlitePersistenceProvider, SqliteQueueProvider

NODE = Path(__file__).with_name("pull_kill_node.py")


def start_worker(db: Path, *, kill_after_subscribing: bool = False) -> subprocess.Popen[str]:
    """A worker (one that kills itself may do so before it says ``ready``: not waited for)."""
    env = dict(os.environ, PYTHONPATH=str(NODE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if kill_after_subscribing:
        env["LITEFLOW_KILL_AFTER_SUBSCRIBE"] = "1"
        return launch(NODE, str(db), env=env, stderr=subprocess.DEVNULL)
    return ready(launch(NODE, str(db), env=env), "a worker")


@pytest.mark.timeout(60)
def test_an_event_taken_before_the_wait_reaches_it_though_the_worker_died_before_its_pull(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    client = configure_workflow_host(
        persistence=SqlitePersistenceProvider(db), queue=SqliteQueueProvider(db), lock=SqliteLockProvider(db)
    )  # never started: it only starts the workflow and publishes the event
    client.register_workflow(WaitsForGo())
    persistence = client.persistence
    wid = client.start_workflow("WaitsForGo", None, {"received": None})
    persistence.mark_event_processed(client.publish_event("go", "k", "early"))  # as when nobody waited yet

    procs = [start_worker(db, kill_after_subscribing=True)]
    try:
        assert procs[0].wait(timeout=20) == -signal.SIGKILL
        waiting = persistence.get_workflow_instance(wid)
        assert waiting.status is WorkflowStatus.RUNNABLE
        assert waiting.execution_pointers[-1].status is PointerStatus.WAITING_FOR_EVENT  # stored, not pulled
        assert waiting.next_execution is not None  # due at its recheck
        procs.append(start_worker(db))
        began = time.monotonic()
        deadline = began + 15
        instance = persistence.get_workflow_instance(wid)
        while instance.status is not WorkflowStatus.COMPLETE and time.monotonic() < deadline:
            time.sleep(0.05)
            instance = persistence.get_workflow_instance(wid)
    finally:
        stop_nodes(procs)
        client.close()
    assert instance.status is WorkflowStatus.COMPLETE, "the event never reached the workflow"
    assert instance.data["received"] == "early"
    # the dead worker's lock lapses (1 s lease) and the recheck comes due (1.5 s after subscribing)
    assert time.monotonic() - began < LEASE + RECHECK + 3
