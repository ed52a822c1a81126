"""A Redis Cluster master killed (SIGKILL) while worker processes run workflows: its replica is promoted,
and every workflow completes.

The test starts a cluster of its own (``scripts/redis-cluster.sh`` on ports 7100-7105, node timeout
1000 ms), so the shared test cluster is left alone. Replication is asynchronous; on a cluster a persist
and a published event are answered only once a replica has them (WAIT), so the writes that other
slots' writes follow from (an event is marked processed after the workflows it woke were stored) survive
the failover; what may still be lost is the rest of the killed master's last writes (a queued id, a
lock, a processed mark). The test waits for replication of what it set up, kills the master that holds
the workflow queue mid-run, and checks that every workflow completes: a step may run again (steps are
counted at least once, not exactly once), a lost queued id is queued again by the runnable poller, a
lost lock is taken again, a lost processed mark delivers an event again (its workflow has consumed it).
While the master is away a worker's reads across shards fail too; the one that matters is the pull of a
workflow that has just stored its subscription (its event may have been marked processed before anyone
waited): it rides out the outage like a persist, else the workflow would wait for ever.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_workflows import CLUSTER_STEPS, ran_key
from own_redis import cluster_client, started_cluster
from test_multi_node import Cluster, wait_all

from liteflow.core import WorkflowStatus

pytestmark = [
    pytest.mark.redis,
    pytest.mark.redis_cluster,
    pytest.mark.slow,
]

#: Seconds from the kill within which every workflow must have completed (about 3 s here, quiet or with
#: both cores saturated); well inside the suite's 120 s per test, so a hang fails here, not by its timeout.
RECOVERY_BUDGET = 60

FIRST_PORT = 7100


@pytest.fixture
def own_cluster(redis_cluster_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A 3-master cluster with one replica each, just for this test; stopped afterwards."""
    with started_cluster(FIRST_PORT, tmp_path / "cluster") as url:
        yield url, tmp_path / "cluster"


def test_a_killed_master_is_replaced_by_its_replica_and_every_workflow_completes(
    own_cluster: tuple[str, Path], redis_url: str, redis_cleanup: str
) -> None:
    import redis
    from redis.crc import key_slot

    from liteflow.providers.redis.shards import tagged

    url, directory = own_cluster
    nodes = Cluster(url, redis_cleanup, counter_url=redis_url)
    try:
        for name in ("n1", "n2"):
            nodes.start_node(name, lease=2.0)
        client = nodes.client()
        ids = [client.start_workflow("ClusterWorkflow", None, {"key": f"k{i}"}) for i in range(60)]
        for i in range(60):
            client.publish_event("go", f"k{i}", f"payload-{i}")
        admin = cluster_client(url)
        for node in admin.get_primaries():  # what was set up is on the replicas too
            assert admin.get_redis_connection(node).execute_command("WAIT", 1, 5000) >= 1
        queue_slot = key_slot(tagged(redis_cleanup, "queue:workflow").encode())
        victim = admin.nodes_manager.get_node_from_slot(queue_slot)
        admin.close()
        counters = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 30
        while sum(int(v) for v in counters.hvals(f"{redis_cleanup}nodes")) < 30:  # mid-run: some steps ran
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.02)
        pid = int((directory / f"redis-{victim.port}.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()

        wait_all(client, ids, timeout=RECOVERY_BUDGET)
        recovered_in = time.monotonic() - killed_at
        for i, workflow_id in enumerate(ids):
            instance = client.get_workflow_instance(workflow_id)
            assert instance.status is WorkflowStatus.COMPLETE, workflow_id
            assert instance.data["received"] == f"payload-{i}"
            for tag, item in CLUSTER_STEPS:  # at least once: a step whose stored progress was lost ran again
                assert int(counters.get(ran_key(workflow_id, tag, item, redis_cleanup)) or 0) >= 1
        after = cluster_client(url)
        try:
            promoted = after.nodes_manager.get_node_from_slot(queue_slot)
            assert promoted.port != victim.port  # the replica serves the slot now
        finally:
            after.close()
        assert recovered_in < RECOVERY_BUDGET
    finally:
        nodes.stop()
