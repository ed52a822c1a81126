"""Redis Cluster support: cluster URLs, the shard layout, and the providers on a live cluster given as a
URL or as a ``RedisCluster`` client (the contract and scenario suites run there too)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from redis.crc import key_slot

from liteflow.core import StepBody, Workflow, WorkflowBuilder, WorkflowStatus, configure_workflow_host
from liteflow.core.models import Event, WorkflowInstance
from liteflow.core.services.urls import redact, redis_cluster_seeds
from liteflow.providers.redis.connection import split_own_options, text
from liteflow.providers.redis.shards import DEFAULT_SHARDS, Shards, shard_tags, tagged


def test_a_cluster_url_names_its_seed_nodes_and_keeps_credentials_and_options() -> None:
    single, seeds = redis_cluster_seeds("redis+cluster://u:pw@10.0.0.1:7000,10.0.0.2:7001,box/?socket_timeout=3")
    assert seeds == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("box", 6379)]
    assert single == "redis://u:pw@10.0.0.1:7000?socket_timeout=3"
    assert redis_cluster_seeds("rediss+cluster://[::1]:7000,[::1]")[1] == [("::1", 7000), ("::1", 6379)]
    assert redis_cluster_seeds("rediss+cluster://h:1")[0] == "rediss://h:1"


@pytest.mark.parametrize(
    "url", ["redis+cluster://", "redis+cluster://h:notaport", "redis+cluster://h:7000/3", "redis://h:7000"]
)
def test_a_bad_cluster_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        redis_cluster_seeds(url)


def test_a_cluster_url_is_redacted_with_every_seed() -> None:
    assert redact("redis+cluster://u:secret@a:1,b:2/?x=1") == "redis+cluster://u:***@a:1,b:2/?x=1"


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("redis+cluster://h:1?password=secret", "redis+cluster://h:1?password=***"),
        ("redis://h:1/0?socket_timeout=2&PASSWORD=secret&x=1", "redis://h:1/0?socket_timeout=2&PASSWORD=***&x=1"),
        ("rediss://ann:sec@ret@h:1/0?pwd=secret", "rediss://ann:***@h:1/0?pwd=***"),
        ("mongodb://ann:secret@a:1,b:2/db?authSource=admin", "mongodb://ann:***@a:1,b:2/db?authSource=admin"),
        ("redis://ann@h:1/0", "redis://ann@h:1/0"),
        ("redis://ann:secret@[::1/0?pass=secret", "redis://ann:***@[::1/0?pass=***"),  # urlsplit refuses it
    ],
)
def test_every_password_in_a_url_is_redacted(url: str, redacted: str) -> None:
    assert redact(url) == redacted


def test_a_bad_cluster_url_error_does_not_show_a_query_password() -> None:
    with pytest.raises(ValueError, match="bad seed node") as raised:
        redis_cluster_seeds("redis+cluster://h:x?password=secret")
    assert "secret" not in str(raised.value) and "password=***" in str(raised.value)


def test_liteflow_options_are_taken_out_of_the_url() -> None:
    assert split_own_options("redis://h:1/0?shards=4&socket_timeout=2") == (
        "redis://h:1/0?socket_timeout=2",
        {"shards": "4"},
    )
    assert split_own_options("redis://h:1/0") == ("redis://h:1/0", {})


def test_shards_are_chosen_by_crc32_of_the_id_and_hash_tagged_with_the_prefix() -> None:
    shards = Shards("app:")
    assert shards.count == DEFAULT_SHARDS
    assert shards.of("abc") == zlib.crc32(b"abc") % DEFAULT_SHARDS
    tag = shard_tags("app:", DEFAULT_SHARDS)[shards.of("abc")]
    assert tag.startswith(f"app:{shards.of('abc')}.")
    assert shards.base("abc") == f"app:{{{tag}}}"
    assert key_slot((shards.base("abc") + "wf:abc").encode()) == key_slot(tag.encode())
    assert tagged("app:", "schedules") == "app:{app:schedules}"
    for bad in (0, -1, 1025, 2.0, True):
        with pytest.raises(ValueError):
            Shards("app:", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("prefix", ["liteflow:", "app:", "t-7f3a:", ""])
@pytest.mark.parametrize("count", [1, 3, 16, 100])
def test_shard_n_hashes_into_the_nth_of_s_equal_slot_ranges(prefix: str, count: int) -> None:
    for n, base in enumerate(Shards(prefix, count).bases):
        assert n * 16384 // count <= key_slot(base.encode()) < (n + 1) * 16384 // count


@pytest.mark.parametrize("prefix", ["liteflow:", "app:", "t-7f3a:"])
def test_the_default_shards_spread_evenly_over_three_equal_masters(prefix: str) -> None:
    # redis-cli --cluster create splits 16384 slots over 3 masters as 0-5460, 5461-10922, 10923-16383
    masters = [0, 0, 0]
    for base in Shards(prefix).bases:
        slot = key_slot(base.encode())
        masters[0 if slot <= 5460 else 1 if slot <= 10922 else 2] += 1
    assert sorted(masters) == [5, 5, 6]


def test_the_shard_tags_depend_only_on_the_prefix_and_the_count() -> None:
    first = Shards("app:").bases
    shard_tags.cache_clear()
    assert Shards("app:").bases == first
    assert Shards("app:", 16).bases == first
    assert Shards("other:").bases != first
    assert len(set(first)) == DEFAULT_SHARDS


def test_a_prefix_with_a_hash_tag_of_its_own_puts_every_shard_in_its_slot() -> None:
    shards = Shards("{liteflow}:")
    assert {key_slot(base.encode()) for base in shards.bases} == {key_slot(b"liteflow")}
    assert key_slot(tagged("{liteflow}:", "queue:workflow").encode()) == key_slot(b"liteflow")


@pytest.mark.parametrize("prefix", ["app}:", "{app:", "a{}b:", "x}{", "x{"])
def test_a_prefix_with_stray_braces_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="hash tag"):
        Shards(prefix)
    with pytest.raises(ValueError, match="hash tag"):
        tagged(prefix, "schedules")


def test_the_shards_option_sets_the_persistence_layout(redis_url: str, redis_cleanup: str) -> None:
    from liteflow.providers.redis import RedisPersistenceProvider

    store = RedisPersistenceProvider(redis_url + "?shards=4", prefix=redis_cleanup)
    try:
        assert store.shards == 4
        instances = [WorkflowInstance(workflow_definition_id="S", version=1) for _ in range(12)]
        for instance in instances:
            store.create_workflow(instance)
        assert store.count_workflows() == 12
        assert {w.id for w in store.list_workflows(take=100)} == {i.id for i in instances}
    finally:
        store.close()
    with pytest.raises(ValueError, match="shards"):
        RedisPersistenceProvider(redis_url + "?shards=many", prefix=redis_cleanup)


class Hello(StepBody):
    def run(self, context: object) -> None:
        return None


class Waits(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Hello).wait_for(
            "go", lambda data, context: data["key"], lambda data, context: context.workflow.create_time
        ).then(Hello)


@pytest.fixture
def cluster_client(redis_cluster_url: str) -> Iterator[Any]:
    from redis.cluster import RedisCluster

    from liteflow.providers.redis.connection import client_from_url

    client = client_from_url(redis_cluster_url, {"decode_responses": True})
    assert isinstance(client, RedisCluster)
    yield client
    client.close()


@pytest.mark.redis_cluster
def test_control_requests_and_schedule_writes_wait_for_a_replica(
    redis_cluster_url: str, redis_cluster_cleanup: str
) -> None:
    """Like a persist, a suspend/terminate request and a schedule's save or delete are answered once a
    replica of their master has them (the script and WAIT on one connection)."""
    from liteflow.core.schedules import Schedule
    from liteflow.providers.redis import RedisPersistenceProvider

    store = RedisPersistenceProvider(redis_cluster_url, prefix=redis_cluster_cleanup)
    routes = store._conn._routes
    assert routes is not None
    waited: list[bytes] = []
    try:
        instance = WorkflowInstance(workflow_definition_id="Flow", version=1)
        store.create_workflow(instance)
        original = routes.execute_replicated

        def recording(key: Any, *args: Any) -> Any:
            reply = original(key, *args)  # recorded once answered: a script unknown to the master is sent again
            waited.append(key if isinstance(key, bytes) else key.encode())
            return reply

        routes.execute_replicated = recording  # type: ignore[method-assign]
        due = datetime(2030, 1, 1, tzinfo=timezone.utc)
        assert store.request_control(instance.id, None, "suspend")
        store.save_schedule(Schedule(id="s1", definition_id="Flow", every=timedelta(minutes=1), next_run_time=due))
        assert store.delete_schedule("s1")
        schedules = tagged(redis_cluster_cleanup, "schedules").encode()
        assert [key.startswith(schedules) for key in waited] == [False, True, True]
        assert waited[0].endswith(instance.id.encode())
    finally:
        store.close()


@pytest.mark.redis_cluster
def test_subscriptions_wait_lines_and_error_records_wait_for_a_replica(
    redis_cluster_url: str, redis_cluster_cleanup: str
) -> None:
    """A subscription made on its own, a wait line entry and a pass's error records are answered once a
    replica of their master has them, as a persist is."""
    from liteflow.core.models import EventSubscription, ExecutionError
    from liteflow.providers.redis import RedisPersistenceProvider

    store = RedisPersistenceProvider(redis_cluster_url, prefix=redis_cluster_cleanup)
    routes = store._conn._routes
    assert routes is not None
    waited: list[tuple[bytes, bytes]] = []
    try:
        instance = WorkflowInstance(workflow_definition_id="Flow", version=1)
        store.create_workflow(instance)
        original = routes.execute_replicated

        def recording(key: Any, *args: Any) -> Any:
            reply = original(key, *args)  # recorded once answered: a script unknown to the master is sent again
            waited.append((key if isinstance(key, bytes) else key.encode(), str(args[0]).encode()))
            return reply

        routes.execute_replicated = recording  # type: ignore[method-assign]
        at = datetime(2030, 1, 1, tzinfo=timezone.utc)
        subscription = EventSubscription(
            workflow_id=instance.id,
            step_id=1,
            execution_pointer_id="p",
            event_name="e",
            event_key="k",
            subscribe_as_of=at,
        )
        store.create_event_subscription(subscription)
        store.add_waiter("line", instance.id, 1.0)
        store.persist_errors([ExecutionError(workflow_id=instance.id, execution_pointer_id="p", message="boom")])
        base = Shards(redis_cluster_cleanup).base(instance.id).encode()
        assert waited == [
            (base + b"sub", b"EVALSHA"),
            (f"{redis_cluster_cleanup}wait:line".encode(), b"ZADD"),
            (base + b"errors:" + instance.id.encode(), b"RPUSH"),
        ]
        assert [s.id for s in store.get_subscriptions("e", "k", at)] == [subscription.id]
        assert store.oldest_waiter("line") == (instance.id, 1.0)
        assert [e.message for e in store.get_errors(instance.id)] == ["boom"]
    finally:
        store.close()


@pytest.mark.redis_cluster
def test_the_store_check_on_a_cluster(cluster_client: Any, redis_cluster_url: str, redis_cluster_cleanup: str) -> None:
    """The shard count is recorded and checked on a cluster too, and the keys of the layout before shards
    (without hash tags, so on several masters) are each looked for on their own slot's master."""
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider
    from liteflow.providers.redis.meta import PERSISTENCE_BEFORE_SHARDS

    prefix = redis_cluster_cleanup
    RedisPersistenceProvider(redis_cluster_url, prefix=prefix).close()
    assert cluster_client.get(prefix + "meta:shards") == str(DEFAULT_SHARDS)
    RedisPersistenceProvider(cluster_client, prefix=prefix).close()  # the same count, by a client passed in
    with pytest.raises(ValueError, match=rf"was made with {DEFAULT_SHARDS} shards .* opened with 8:"):
        RedisPersistenceProvider(redis_cluster_url, prefix=prefix, shards=8)
    assert cluster_client.get(prefix + "meta:shards") == str(DEFAULT_SHARDS)

    masters = set()
    for n, name in enumerate(PERSISTENCE_BEFORE_SHARDS):
        old = f"{prefix}old{n}:"  # a store of its own (below this test's prefix, so cleaned up with it)
        key = old + name
        masters.add(cluster_client.nodes_manager.get_node_from_slot(key_slot(key.encode())).name)
        if name.startswith("idx:"):
            cluster_client.zadd(key, {"w": 1.0})
        else:
            cluster_client.hset(key, "w", "{}")
        with pytest.raises(ValueError, match=rf"previous layout.*\({key}\)"):
            RedisPersistenceProvider(redis_cluster_url, prefix=old)
        assert cluster_client.get(old + "meta:shards") is None
    assert len(masters) >= 2, f"the old keys were all on {masters}"
    cluster_client.incr(prefix + "queue:seq")
    with pytest.raises(ValueError, match=rf"previous layout.*\({prefix}queue:seq\)"):
        RedisQueueProvider(redis_cluster_url, prefix=prefix)
    RedisLockProvider(redis_cluster_url, prefix=prefix).close()


@pytest.mark.redis_cluster
def test_configure_workflow_host_takes_a_cluster_url(redis_cluster_url: str, redis_cluster_cleanup: str) -> None:
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    host = configure_workflow_host(persistence=redis_cluster_url, prefix=redis_cluster_cleanup, poll_interval=0.2)
    assert isinstance(host.persistence, RedisPersistenceProvider)
    assert isinstance(host.queue, RedisQueueProvider)
    assert isinstance(host.lock, RedisLockProvider)
    host.register_workflow(Waits())
    try:
        with host:
            ids = [host.start_workflow("Waits", data={"key": f"k{i}"}) for i in range(20)]
            for i in range(20):
                host.publish_event("go", f"k{i}", i)
            for workflow_id in ids:
                assert host.wait_for_workflow(workflow_id, timeout=30).status is WorkflowStatus.COMPLETE
            assert host.count_workflows(status=WorkflowStatus.COMPLETE) == 20
    finally:
        for provider in (host.persistence, host.queue, host.lock):
            provider.close()


@pytest.mark.redis_cluster
def test_providers_take_a_redis_cluster_client_and_spread_over_the_masters(
    cluster_client: Any, redis_cluster_cleanup: str
) -> None:
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider
    from liteflow.providers.redis.lifecycle import RedisLifecycleHub

    prefix = redis_cluster_cleanup
    store = RedisPersistenceProvider(cluster_client, prefix=prefix)
    queue, lock = RedisQueueProvider(cluster_client, prefix=prefix), RedisLockProvider(cluster_client, prefix=prefix)
    hub = RedisLifecycleHub(cluster_client, prefix=prefix)
    host = configure_workflow_host(store, queue, lock, lifecycle_hub=hub, poll_interval=0.2)
    host.register_workflow(Waits())
    with host:
        ids = [host.start_workflow("Waits", data={"key": "same"}) for _ in range(30)]
        host.publish_event("go", "same", "x")  # one event, thirty subscriptions over every shard
        for workflow_id in ids:
            assert host.wait_for_workflow(workflow_id, timeout=30).status is WorkflowStatus.COMPLETE
    listed = host.list_workflows(take=10)
    assert [w.create_time for w in listed] == sorted((w.create_time for w in listed), reverse=True)
    assert {w.id for w in host.list_workflows(take=100)} == set(ids)
    holding = {}  # which master holds each instance's hash
    for node in cluster_client.get_primaries():
        server = cluster_client.get_redis_connection(node)
        for key in server.scan_iter(match=prefix + "*wf:*", count=1000):
            holding[key.rpartition("wf:")[2]] = node.name
    assert set(holding) == set(ids)
    assert len(set(holding.values())) == 3, f"instances on {set(holding.values())} only"
    for provider in (store, queue, lock, hub):
        provider.close()
    assert cluster_client.ping()  # a client passed in is left open


@pytest.mark.redis_cluster
def test_events_and_purges_across_shards(redis_cluster_url: str, redis_cluster_cleanup: str) -> None:
    from liteflow.providers.redis import RedisPersistenceProvider

    store = RedisPersistenceProvider(redis_cluster_url, prefix=redis_cluster_cleanup)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    try:
        events = [Event(event_name="e", event_key="k", event_time=t0 + timedelta(seconds=i)) for i in range(40)]
        for event in reversed(events):
            store.create_event(event)
        found = store.get_events("e", "k", t0, t0 + timedelta(minutes=1))
        assert [e.id for e in found] == [e.id for e in events]  # oldest first, merged from every shard
        assert store.get_runnable_events(t0 + timedelta(minutes=1)) == [e.id for e in events]
        for event in events[:30]:
            store.mark_event_processed(event.id)
        assert store.purge_events(t0 + timedelta(minutes=1), limit=10) == 10  # the ten oldest
        assert store.purge_events(t0 + timedelta(minutes=1)) == 20  # the other processed ones
        assert [e.id for e in store.get_events("e", "k", t0, t0 + timedelta(minutes=1))] == [e.id for e in events[30:]]
    finally:
        store.close()


@pytest.mark.redis_cluster
def test_configure_workflow_host_takes_a_redis_cluster_client(cluster_client: Any, redis_cluster_cleanup: str) -> None:
    from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider

    host = configure_workflow_host(persistence=cluster_client, prefix=redis_cluster_cleanup, poll_interval=0.2)
    assert isinstance(host.persistence, RedisPersistenceProvider)
    assert isinstance(host.queue, RedisQueueProvider)
    assert isinstance(host.lock, RedisLockProvider)
    assert host.persistence.client is cluster_client and host.queue._conn.client is cluster_client
    host.register_workflow(Waits())
    with host:
        workflow_id = host.start_workflow("Waits", data={"key": "c"})
        host.publish_event("go", "c", 1)
        assert host.wait_for_workflow(workflow_id, timeout=30).status is WorkflowStatus.COMPLETE
    for provider in (host.persistence, host.queue, host.lock):
        provider.close()
    assert cluster_client.ping()  # left open: the caller's


@pytest.mark.redis_cluster
def test_the_fast_path_follows_a_moved_slot(cluster_client: Any, redis_cluster_cleanup: str) -> None:
    """A slot map gone stale (as after a failover or a resharding): the command sent to the wrong master
    is answered MOVED, sent again through redis-py's cluster client, which updates the map; the next
    command goes straight to the right master."""
    from liteflow.providers.redis.connection import RedisConnection

    conn = RedisConnection(cluster_client, prefix=redis_cluster_cleanup)
    key = tagged(redis_cluster_cleanup, "moved") + "k"
    other = tagged(redis_cluster_cleanup, "moved") + "j"
    conn.execute("SET", key, "v")
    conn.execute("SET", other, "w")
    manager = cluster_client.nodes_manager
    slot = key_slot(key.encode())
    right = manager.slots_cache[slot][0]
    wrong = next(node for node in cluster_client.get_primaries() if node.name != right.name)
    for stale in (lambda: conn.execute("GET", key), lambda: conn.execute_many([("GET", key), ("GET", other)])):
        manager.slots_cache[slot] = [wrong]
        answer = stale()
        assert (text(answer) if not isinstance(answer, list) else [text(a) for a in answer]) in ("v", ["v", "w"])
        assert manager.slots_cache[slot][0].name == right.name  # the map was put right
    errors = conn.execute_many([("GET", key), ("HGET", key, "f")])  # a wrong-type reply stays in its place
    assert text(errors[0]) == "v" and isinstance(errors[1], Exception)
    conn.close()
