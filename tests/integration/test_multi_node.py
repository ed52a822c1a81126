"""Several OS processes sharing the real Redis (one server, and a Redis Cluster when one is given): work
is shared, every step runs once, nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_workflows import CLUSTER_STEPS, NEW_WORKFLOWS, WORKFLOWS, ran_key
from node_process import launch, ready, stop_nodes

from liteflow.core import WorkflowHost, WorkflowStatus, configure_workflow_host
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

pytestmark = [pytest.mark.redis, pytest.mark.slow]
NODE_SCRIPT = Path(__file__).with_name("cluster_node.py")


class Cluster:
    """Worker nodes on ``redis_url`` (one server or a Redis Cluster); the steps' counters on
    ``counter_url`` (a plain server)."""

    def __init__(self, redis_url: str, prefix: str, counter_url: str | None = None) -> None:
        self.redis_url = redis_url
        self.counter_url = counter_url or redis_url
        self.prefix = prefix
        self.nodes: dict[str, subprocess.Popen[str]] = {}

    def start_node(self, name: str, lease: float = 2.0, stderr: Any = None, **env_extra: str) -> subprocess.Popen[str]:
        env = dict(
            os.environ,
            LITEFLOW_REDIS_URL=self.redis_url,
            LITEFLOW_COUNTER_URL=self.counter_url,
            LITEFLOW_PREFIX=self.prefix,
            LITEFLOW_NODE=name,
            LITEFLOW_LEASE=str(lease),
            **env_extra,
        )
        proc = ready(launch(NODE_SCRIPT, env=env, stderr=stderr), f"node {name}")
        self.nodes[name] = proc
        return proc

    def client(self) -> WorkflowHost:
        host = configure_workflow_host(
            persistence=RedisPersistenceProvider(self.redis_url, prefix=self.prefix),
            queue=RedisQueueProvider(self.redis_url, prefix=self.prefix),
            lock=RedisLockProvider(self.redis_url, prefix=self.prefix),
        )
        for workflow in WORKFLOWS + NEW_WORKFLOWS:
            host.register_workflow(workflow())
        return host

    def stop(self) -> None:
        stop_nodes(self.nodes.values())


@pytest.fixture(params=["redis", pytest.param("redis-cluster", marks=pytest.mark.redis_cluster)])
def cluster(request: pytest.FixtureRequest, redis_url: str, redis_cleanup: str) -> Iterator[Cluster]:
    """Nodes on the Redis server, or on the Redis Cluster (their counters stay on the server)."""
    if request.param == "redis-cluster":
        store = request.getfixturevalue("redis_cluster_url")
        request.getfixturevalue("redis_cluster_cleanup")  # the same prefix: its keys there go too
        cluster = Cluster(store, redis_cleanup, counter_url=redis_url)
    else:
        cluster = Cluster(redis_url, redis_cleanup)
    yield cluster
    cluster.stop()


def wait_all(host: WorkflowHost, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for workflow_id in ids:
        host.wait_for_workflow(workflow_id, timeout=max(0.1, deadline - time.monotonic()))


def test_three_nodes_run_150_workflows_each_step_exactly_once(cluster: Cluster) -> None:
    for name in ("n1", "n2", "n3"):
        cluster.start_node(name)
    client = cluster.client()
    ids = [client.start_workflow("ClusterWorkflow", None, {"key": f"k{i}"}) for i in range(150)]
    for i in range(150):
        client.publish_event("go", f"k{i}", f"payload-{i}")
    wait_all(client, ids, timeout=120)

    import redis

    counters = redis.Redis.from_url(cluster.counter_url)
    for i, workflow_id in enumerate(ids):
        instance = client.get_workflow_instance(workflow_id)
        assert instance.status is WorkflowStatus.COMPLETE
        assert instance.data["received"] == f"payload-{i}"
        for tag, item in CLUSTER_STEPS:
            assert counters.get(ran_key(workflow_id, tag, item, cluster.prefix)) == b"1", (workflow_id, tag, item)
    ran = {k.decode(): int(v) for k, v in counters.hgetall(f"{cluster.prefix}nodes").items()}
    assert sum(ran.values()) == 150 * len(CLUSTER_STEPS)
    assert len([n for n, count in ran.items() if count > 0]) >= 2, f"work was not shared: {ran}"


def test_a_killed_node_loses_nothing(cluster: Cluster) -> None:
    import redis

    counters = redis.Redis.from_url(cluster.counter_url)
    first = cluster.start_node("doomed", lease=1.5)
    client = cluster.client()
    workflow_id = client.start_workflow("KillWorkflow", None, None)
    deadline = time.monotonic() + 20
    while counters.get(f"{cluster.prefix}slow-node") is None:
        assert time.monotonic() < deadline, "the slow step never started"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    cluster.start_node("survivor", lease=1.5)

    instance = client.wait_for_workflow(workflow_id, timeout=60)
    assert instance.status is WorkflowStatus.COMPLETE
    assert counters.get(ran_key(workflow_id, "before", None, cluster.prefix)) == b"1"
    assert (
        counters.get(ran_key(workflow_id, "slow", None, cluster.prefix)) == b"2"
    )  # only the interrupted step ran again
    assert counters.get(ran_key(workflow_id, "after", None, cluster.prefix)) == b"1"


def test_a_rolling_deploy_old_nodes_leave_new_versions_to_new_nodes(cluster: Cluster, tmp_path: Path) -> None:
    import redis

    counters = redis.Redis.from_url(cluster.counter_url)
    poll = "30"  # no poller comes to the rescue within the test
    log_path = tmp_path / "old.log"
    with log_path.open("w") as log:
        old = cluster.start_node("old", stderr=log, LITEFLOW_POLL=poll)
    cluster.start_node("new", LITEFLOW_POLL=poll, LITEFLOW_NEW="1")
    client = cluster.client()
    ids = [client.start_workflow("Rolling", 2, None) for _ in range(20)]
    started = time.monotonic()
    wait_all(client, ids, timeout=15)
    assert time.monotonic() - started < 15
    for workflow_id in ids:
        assert client.get_workflow_instance(workflow_id).status is WorkflowStatus.COMPLETE
        assert counters.get(ran_key(workflow_id, "rolling", None, cluster.prefix)) == b"1"
    ran = {k.decode(): int(v) for k, v in counters.hgetall(f"{cluster.prefix}nodes").items()}
    assert ran == {"new": 20}
    old.send_signal(signal.SIGTERM)
    old.wait(timeout=15)
    err = log_path.read_text()
    # one line per instance the old node came across, at most: no retry loop
    assert err.count("definition_missing") <= len(ids), err[-2000:]
