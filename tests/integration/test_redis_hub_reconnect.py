"""A subscribed lifecycle hub receives again soon after its Redis comes back: a restarted server, or a
Redis Cluster whose master of the channel's slot was killed (SIGKILL) and replaced by its replica.

A pub/sub connection stays bound to the node it first used (the master of the channel's slot); on a
lost connection the hub subscribes anew, on the node that serves the slot now. Each test runs a Redis of
its own (a ``redis-server`` on a free port; a cluster by ``scripts/redis-cluster.sh`` on ports 7200-7205)
and stops it afterwards.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from own_redis import OwnRedis, cluster_client, started_cluster

from liteflow.core import LifecycleEvent, WorkflowStarted
from liteflow.core.errors import ProviderError
from liteflow.providers.redis import RedisLifecycleHub

pytestmark = [pytest.mark.redis, pytest.mark.slow]

FIRST_PORT = 7200
PREFIX = "lfhubreconnect:"
#: How long after Redis is healthy again the hub may take to receive.
RECEIVES_WITHIN = 5.0

Received = queue.Queue[tuple[str, LifecycleEvent]]


@pytest.fixture
def hub_cluster(redis_cluster_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with started_cluster(FIRST_PORT, tmp_path / "cluster") as url:
        yield url, tmp_path / "cluster"


def _event(n: int) -> WorkflowStarted:
    return WorkflowStarted(workflow_instance_id=f"wf-{n}", workflow_definition_id="Hub", version=1, reference=None)


def _receives_first(publisher: RedisLifecycleHub, received: Received) -> None:
    publisher.publish("other", _event(0))
    origin, event = received.get(timeout=5)
    assert (origin, event.workflow_instance_id) == ("other", "wf-0")


def _receives_again(publisher: RedisLifecycleHub, received: Received, healthy_at: float) -> None:
    """Pub/sub keeps nothing: publish until the resubscribed hub hears one, within the bound."""
    n = 1
    while time.monotonic() - healthy_at < RECEIVES_WITHIN:
        with contextlib.suppress(ProviderError):  # the publisher may still be reconnecting
            publisher.publish("other", _event(n))
        n += 1
        try:
            origin, event = received.get(timeout=0.2)
        except queue.Empty:
            continue
        assert origin == "other"
        assert event.workflow_instance_id.startswith("wf-") and event.workflow_instance_id != "wf-0"
        return
    pytest.fail(f"no event received within {RECEIVES_WITHIN} s of Redis being healthy again")


def _slot_served_by_other(port: int, slot: int, victim_port: int) -> bool:
    """Whether the node on ``port`` sees a healthy cluster whose ``slot`` is served by another node."""
    try:
        node = redis.Redis(port=port, socket_timeout=1, socket_connect_timeout=1)
        try:
            if b"cluster_state:ok" not in node.execute_command("CLUSTER", "INFO"):
                return False
            for start, end, master, *_ in node.execute_command("CLUSTER", "SLOTS"):
                if start <= slot <= end:
                    return int(master[1]) != victim_port
            return False
        finally:
            node.close()
    except redis.RedisError:
        return False


@pytest.mark.redis_cluster
def test_a_subscribed_hub_receives_again_after_the_channel_master_fails_over(
    hub_cluster: tuple[str, Path],
) -> None:
    url, directory = hub_cluster
    received: Received = queue.Queue()
    subscriber = RedisLifecycleHub(url, prefix=PREFIX)
    publisher = RedisLifecycleHub(url, prefix=PREFIX)  # another host
    unsubscribe = subscriber.subscribe(lambda origin, event: received.put((origin, event)))
    try:
        _receives_first(publisher, received)
        admin: Any = cluster_client(url)
        slot = admin.keyslot(PREFIX + "lifecycle")  # the hub's channel
        victim = admin.nodes_manager.get_node_from_slot(slot)
        admin.close()
        os.kill(int((directory / f"redis-{victim.port}.pid").read_text()), signal.SIGKILL)

        survivor = next(FIRST_PORT + i for i in range(6) if FIRST_PORT + i != victim.port)
        deadline = time.monotonic() + 30
        while not _slot_served_by_other(survivor, slot, victim.port):
            assert time.monotonic() < deadline, "the replica was never promoted"
            time.sleep(0.1)
        _receives_again(publisher, received, healthy_at=time.monotonic())
    finally:
        unsubscribe()
        subscriber.close()
        publisher.close()


def test_a_subscribed_hub_receives_again_after_a_redis_restart(own_redis: OwnRedis) -> None:
    received: Received = queue.Queue()
    subscriber = RedisLifecycleHub(own_redis.url, prefix=PREFIX)
    publisher = RedisLifecycleHub(own_redis.url, prefix=PREFIX)
    unsubscribe = subscriber.subscribe(lambda origin, event: received.put((origin, event)))
    try:
        _receives_first(publisher, received)
        own_redis.crash()
        time.sleep(1.5)  # down for a while: the hub's first attempts to subscribe again fail
        healthy_at = own_redis.start()
        _receives_again(publisher, received, healthy_at)
    finally:
        unsubscribe()
        subscriber.close()
        publisher.close()
