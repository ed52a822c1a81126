"""Schedules and caller-chosen ids across OS processes sharing the real Redis."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from test_multi_node import Cluster

from liteflow.core import WorkflowAlreadyExistsError

pytestmark = [pytest.mark.redis, pytest.mark.slow]
START_SAME = Path(__file__).with_name("start_same_id.py")


@pytest.fixture
def cluster(redis_url: str, redis_cleanup: str) -> Iterator[Cluster]:
    cluster = Cluster(redis_url, redis_cleanup)
    yield cluster
    cluster.stop()


def test_two_hosts_start_one_instance_per_due_time(cluster: Cluster) -> None:
    cluster.start_node("n1")
    cluster.start_node("n2")
    client = cluster.client()  # never started: the nodes evaluate the schedule
    schedule = client.schedule_workflow("tick", "ScheduledWorkflow", every=timedelta(seconds=1))
    created = schedule.create_time
    time.sleep(10.5)  # the test's own clock: ten due times pass
    assert client.unschedule_workflow("tick")
    time.sleep(0.5)
    started = [w for w in client.list_workflows(take=1000) if (w.reference or "").startswith("schedule:tick:")]
    dues = [datetime.fromisoformat(w.reference.split(":", 2)[2]) for w in started]
    assert len(dues) == len(set(dues)), "a due time started twice"
    assert 9 <= len(started) <= 11, sorted(dues)
    assert all((due - created).total_seconds() % 1 == pytest.approx(0, abs=0.002) for due in dues)
    for workflow in started:
        assert client.wait_for_workflow(workflow.id, timeout=30).status.name == "COMPLETE"


def test_threads_and_processes_starting_one_id_make_one_instance(cluster: Cluster) -> None:
    client = cluster.client()
    at = time.time() + 2.0
    processes = [
        subprocess.Popen(
            [sys.executable, str(START_SAME), cluster.redis_url, cluster.prefix, "order-42", str(at), "10"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    here: list[str] = []

    def start() -> None:
        time.sleep(max(0.0, at - time.time()))
        try:
            here.append("started:" + client.start_workflow("ScheduledWorkflow", workflow_id="order-42"))
        except WorkflowAlreadyExistsError:
            here.append("exists")

    threads = [threading.Thread(target=start) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answers = list(here)
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        answers += out.split()
    assert len(answers) == 40
    assert answers.count("started:order-42") == 1, answers
    assert answers.count("exists") == 39
    assert [w.id for w in client.list_workflows(take=100)] == ["order-42"]


def test_a_concurrency_limit_holds_across_two_hosts(cluster: Cluster) -> None:
    import redis

    cluster.start_node("n1")
    cluster.start_node("n2")
    client = cluster.client()
    ids = [client.start_workflow("LimitedWorkflow", data={"customer": "acme"}) for _ in range(30)]
    for workflow_id in ids:
        assert client.wait_for_workflow(workflow_id, timeout=120).status.name == "COMPLETE"
    counters = redis.Redis.from_url(cluster.redis_url)
    seen = [int(n) for n in counters.lrange(f"{cluster.prefix}seen", 0, -1)]
    assert len(seen) == 60  # every step ran, once
    assert max(seen) <= 2, f"{max(seen)} steps of one key ran at once"
    assert max(seen) == 2, "the two slots were used"
    for workflow_id in ids:
        assert counters.get(f"{cluster.prefix}ran:{workflow_id}:limited:None") == b"2"
