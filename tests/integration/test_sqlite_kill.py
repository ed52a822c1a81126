"""Worker processes on one SQLite file, SIGKILLed at random moments: every workflow completes, and no
step runs twice unless a process that ran it was killed."""

from __future__ import annotations

import collections
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from node_process import launch, ready, stop_nodes
from sqlite_node import STEPS, KillChain

from liteflow.core import WorkflowStatus, configure_workflow_host
from liteflow.providers.sqlite import SqliteLockProvider, SqlitePersistenceProvider, SqliteQueueProvider

pytestmark = pytest.mark.slow
NODE = Path(__file__).with_name("sqlite_node.py")
WORKERS = 3
WORKFLOWS = 1_000
KILLS = 12
LEASE = 2.0
DEADLINE = 55.0


def start_worker(db: Path, records: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(NODE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return ready(launch(NODE, str(db), str(records), str(LEASE), env=env), "a worker")


def step_runs(records: Path) -> dict[tuple[str, int], list[int]]:
    """(workflow id, step) -> the pids that ran it, from every worker's record (a torn last line skipped)."""
    runs: dict[tuple[str, int], list[int]] = collections.defaultdict(list)
    for log in records.glob("*.log"):
        for line in log.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[2].isdigit():
                runs[(parts[0], int(parts[1]))].append(int(parts[2]))
    return runs


@pytest.mark.timeout(150)
def test_sigkilled_workers_lose_nothing_and_survivors_run_no_step_twice(tmp_path: Path) -> None:
    db, records = tmp_path / "shared.db", tmp_path / "runs"
    records.mkdir()
    client = configure_workflow_host(
        persistence=SqlitePersistenceProvider(db), queue=SqliteQueueProvider(db), lock=SqliteLockProvider(db)
    )  # never started: it only creates the workflows
    client.register_workflow(KillChain())
    persistence = client.persistence
    assert isinstance(persistence, SqlitePersistenceProvider)
    ids = [client.start_workflow("KillChain") for _ in range(WORKFLOWS)]

    rng = random.Random()
    workers = [start_worker(db, records) for _ in range(WORKERS)]
    killed: set[int] = set()
    kills_mid_run = 0
    started = time.monotonic()
    try:
        while time.monotonic() - started < DEADLINE:
            done = persistence.count_workflows(status=WorkflowStatus.COMPLETE)
            if done == WORKFLOWS:
                break
            if len(killed) < KILLS:
                time.sleep(rng.uniform(0.1, 0.8))
                victim = workers.pop(rng.randrange(len(workers)))
                victim.send_signal(signal.SIGKILL)
                victim.wait(10)
                killed.add(victim.pid)
                kills_mid_run += persistence.count_workflows(status=WorkflowStatus.COMPLETE) < WORKFLOWS
                workers.append(start_worker(db, records))
            else:
                time.sleep(0.2)
        elapsed = time.monotonic() - started
    finally:
        stop_nodes(workers)

    instances = persistence.get_workflow_instances(ids)
    statuses = collections.Counter(i.status for i in instances)
    assert statuses == {WorkflowStatus.COMPLETE: WORKFLOWS}, f"after {elapsed:.0f} s: {statuses}"
    assert kills_mid_run >= KILLS // 2, f"only {kills_mid_run} kills landed while work remained"

    runs = step_runs(records)
    missing = [(w, s) for w in ids for s in range(STEPS) if (w, s) not in runs]
    assert not missing, f"{len(missing)} steps never ran, e.g. {missing[:3]}"
    twice = {key: pids for key, pids in runs.items() if len(pids) > 1}
    unexplained = {key: pids for key, pids in twice.items() if not killed.intersection(pids)}
    assert not unexplained, f"steps run twice by workers never killed: {list(unexplained.items())[:5]}"
    print(f"{WORKFLOWS} workflows in {elapsed:.1f} s, {len(killed)} kills, {len(twice)} steps re-run after a kill")
    for provider in (client.persistence, client.queue, client.lock):
        provider.close()
