"""Publishing on Redis: with the queue on the store's server, ``publish_event`` stores the event and queues
it in one script (``SupportsQueuedEvents``); elsewhere (another database, a cluster) in two steps."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from liteflow.core import configure_workflow_host
from liteflow.core.interfaces import QueueType
from liteflow.providers.redis import RedisPersistenceProvider, RedisQueueProvider

pytestmark = pytest.mark.redis


def _evalsha_calls(client: Any) -> int:
    return int(client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


def test_a_publication_on_the_stores_server_is_one_script(redis_url: str, redis_cleanup: str) -> None:
    host = configure_workflow_host(persistence=redis_url, prefix=redis_cleanup)
    client = redis.Redis.from_url(redis_url)
    try:
        assert host.runtime.create_queued_event is not None
        host.publish_event("warm", "k")  # loads the script
        before = _evalsha_calls(client)
        event_id = host.publish_event("go", "k", {"n": 1})
        assert _evalsha_calls(client) - before == 1
        event = host.persistence.get_event(event_id)
        assert (event.event_name, event.event_key, event.event_data, event.is_processed) == ("go", "k", {"n": 1}, False)
        assert event_id in host.persistence.get_runnable_events(event.event_time)
        taken = {host.queue.dequeue_work(QueueType.EVENT, 1.0) for _ in range(2)}
        assert event_id in taken and host.queue.dequeue_work(QueueType.EVENT, 0) is None
        host.queue.queue_work(event_id, QueueType.EVENT)
        host.runtime.create_queued_event(event)  # stored again, queued once
        assert host.queue.dequeue_work(QueueType.EVENT, 1.0) == event_id
        assert host.queue.dequeue_work(QueueType.EVENT, 0) is None
    finally:
        client.close()
        host.close()


def test_a_queue_on_another_database_gets_two_steps(redis_url: str, redis_cleanup: str) -> None:
    other_db = redis.Redis.from_url(redis_url).connection_pool.connection_kwargs
    other_url = f"redis://{other_db['host']}:{other_db['port']}/{int(other_db.get('db') or 0) + 1}"
    store = RedisPersistenceProvider(redis_url, prefix=redis_cleanup)
    queue = RedisQueueProvider(other_url, prefix=redis_cleanup)
    try:
        assert store.queued_events(queue) is None
        assert store.queued_events(object()) is None  # type: ignore[arg-type]
        same = RedisQueueProvider(redis_url, prefix=redis_cleanup)
        assert store.queued_events(same) is not None
        same.close()
        host = configure_workflow_host(store, queue)
        assert host.runtime.create_queued_event is None
        event_id = host.publish_event("go", "k")
        assert queue.dequeue_work(QueueType.EVENT, 1.0) == event_id
        assert store.get_event(event_id).event_name == "go"
    finally:
        other = redis.Redis.from_url(other_url)
        for key in other.scan_iter(match=redis_cleanup + "*"):
            other.delete(key)
        other.close()
        store.close()
        queue.close()


@pytest.mark.redis_cluster
def test_a_cluster_gets_two_steps(redis_cluster_url: str, redis_cluster_cleanup: str) -> None:
    host = configure_workflow_host(persistence=redis_cluster_url, prefix=redis_cluster_cleanup)
    try:
        assert host.runtime.create_queued_event is None
        event_id = host.publish_event("go", "k")
        assert host.queue.dequeue_work(QueueType.EVENT, 1.0) == event_id
    finally:
        host.close()
