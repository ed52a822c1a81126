"""The shared Redis plumbing: URL or client, prefixes, ownership on close, driver errors as ProviderError."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, cast

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from liteflow.core.errors import ProviderError
from liteflow.core.interfaces import QueueType
from liteflow.core.models import Event, WorkflowInstance
from liteflow.providers.redis import RedisLockProvider, RedisPersistenceProvider, RedisQueueProvider
from liteflow.providers.redis import connection as connection_module
from liteflow.providers.redis.connection import LONGEST_BLOCK, RedisConnection, provider_errors, socket_timeout, text


def dead_client() -> redis.Redis:
    """A client for a port nothing listens on, failing at once (no retries)."""
    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


def test_key_prefixes_every_key() -> None:
    connection = RedisConnection("redis://127.0.0.1:6379/0", prefix="app:")
    assert connection.key("wf:", "42") == "app:wf:42"
    connection.close()


def test_rejects_what_is_neither_url_nor_client() -> None:
    with pytest.raises(TypeError, match="int"):
        RedisConnection(cast(Any, 42))


def test_text_reads_bytes_and_str() -> None:
    assert text(b"abc") == "abc" and text("abc") == "abc"


def test_provider_errors_wrap_redis_errors_and_chain_them() -> None:
    with pytest.raises(ProviderError) as caught, provider_errors("doing things"):
        raise redis.ConnectionError("gone")
    assert "doing things" in str(caught.value)
    assert isinstance(caught.value.__cause__, redis.ConnectionError)


def test_socket_timeout_reads_the_clients_setting() -> None:
    assert socket_timeout(redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=3)) == 3.0
    assert socket_timeout(redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=None)) is None


def test_unreachable_server_raises_provider_error_from_every_provider() -> None:
    client = dead_client()
    persistence = RedisPersistenceProvider(client, prefix="lftest:dead:")
    queue = RedisQueueProvider(client, prefix="lftest:dead:")
    locks = RedisLockProvider(client, prefix="lftest:dead:")
    calls = [
        lambda: persistence.create_workflow(WorkflowInstance(workflow_definition_id="x", version=1)),
        lambda: persistence.get_workflow_instance("x"),
        lambda: persistence.get_runnable_instances(datetime.now(timezone.utc)),
        lambda: persistence.create_event(Event(event_name="e", event_key="k")),
        lambda: queue.queue_work("x", QueueType.WORKFLOW),
        lambda: queue.dequeue_work(QueueType.WORKFLOW, 0.1),
        lambda: locks.acquire_lock("x"),
    ]
    for call in calls:
        with pytest.raises(ProviderError) as caught:
            call()
        assert isinstance(caught.value.__cause__, redis.RedisError)
    for provider in (persistence, queue, locks):
        provider.close()


@pytest.mark.redis
def test_close_closes_only_what_the_provider_opened(redis_url: str, redis_cleanup: str) -> None:
    client = redis.Redis.from_url(redis_url)
    passed = RedisPersistenceProvider(client, prefix=redis_cleanup)
    passed.close()
    assert client.ping()  # still usable by its owner
    client.close()

    owned, borrowed = RedisConnection(redis_url), RedisConnection(client)
    assert owned.owns_client and not borrowed.owns_client
    owned.close()
    borrowed.close()


@pytest.mark.redis
def test_a_decoding_client_works_too(redis_url: str, redis_cleanup: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    persistence = RedisPersistenceProvider(client, prefix=redis_cleanup)
    instance = WorkflowInstance(workflow_definition_id="x", version=1, data={"é": "ü"})
    persistence.create_workflow(instance)
    assert persistence.get_workflow_instance(instance.id).data == {"é": "ü"}
    assert persistence.get_runnable_instances(datetime.now(timezone.utc)) == [instance.id]
    persistence.close()
    client.close()


@pytest.mark.redis
def test_a_script_the_server_does_not_know_is_loaded_and_run(redis_url: str, redis_cleanup: str) -> None:
    connection = RedisConnection(redis_url, prefix=redis_cleanup)
    source = f"-- {uuid.uuid4().hex}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])"
    script = connection.script(source)
    key = connection.key("counter")
    assert connection.run_script(script, [key], [2]) == 2  # NOSCRIPT first: loaded, then run once
    assert connection.run_script(script, [key], [3]) == 5
    connection.close()


@pytest.mark.redis
def test_a_command_on_a_connection_the_server_dropped_is_sent_again(redis_url: str, redis_cleanup: str) -> None:
    connection = RedisConnection(redis_url, prefix=redis_cleanup)
    key = connection.key("k")
    connection.execute("SET", key, "1")
    own_id = connection.execute("CLIENT", "ID")  # the hot-path connection, now idle and reused next
    admin = redis.Redis.from_url(redis_url)
    admin.client_kill_filter(_id=own_id)
    assert connection.execute("INCR", key) == 2  # the broken connection fails; sent once more, not twice
    assert connection.execute("CLIENT", "ID") != own_id
    admin.close()
    connection.close()


@pytest.mark.redis
def test_hot_path_replies_are_raw_and_a_wrong_command_raises(redis_url: str, redis_cleanup: str) -> None:
    connection = RedisConnection(redis_url, prefix=redis_cleanup)
    key = connection.key("lock")
    assert connection.execute("SET", key, "t", "NX", "PX", 1000) == b"OK"
    assert connection.execute("SET", key, "t", "NX", "PX", 1000) is None
    with pytest.raises(redis.ResponseError):
        connection.execute("HGET", key, "doc")  # WRONGTYPE; the connection stays usable
    assert connection.execute("GET", key) == b"t"
    connection.close()


def test_commands_are_packed_as_redis_py_packs_them() -> None:
    from redis.connection import Connection

    from liteflow.providers.redis.connection import pack_command

    args = ("EVALSHA", "f" * 40, 2, "k:é", b"\x00\xffbin", 1.5, -7, "", 12345678901234)
    assert pack_command(args) == b"".join(Connection().pack_command(*args))
    with pytest.raises(redis.DataError):
        pack_command(("SET", "k", True))
    with pytest.raises(redis.DataError):
        pack_command(("SET", "k", None))


class HalfOpenServer:
    """A server that accepts connections and never answers: a Redis host gone without a word (a half-open
    connection, a link dropped by a firewall)."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self._accepted.append(connection)

    def close(self) -> None:
        self._listener.close()
        for connection in self._accepted:
            connection.close()


@pytest.fixture
def half_open() -> Iterator[HalfOpenServer]:
    server = HalfOpenServer()
    yield server
    server.close()


def test_clients_made_from_a_url_never_wait_for_ever() -> None:
    connection = RedisConnection("redis://127.0.0.1:6379/0")
    try:
        assert socket_timeout(connection.client) == 5.0
        blocking, longest = connection.blocking()
        assert socket_timeout(blocking) == LONGEST_BLOCK + 0.5
        assert longest == LONGEST_BLOCK
    finally:
        connection.close()


def test_a_blocking_dequeue_on_a_half_open_connection_fails_instead_of_hanging(
    half_open: HalfOpenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_module, "LONGEST_BLOCK", 0.5)  # a 1 s socket timeout, to keep this short
    queue = RedisQueueProvider(f"redis://127.0.0.1:{half_open.port}/0", prefix="lftest:half-open:")
    started = time.monotonic()
    try:
        with pytest.raises(ProviderError):
            queue.dequeue_work(QueueType.WORKFLOW, 0.3)
    finally:
        queue.close()
    assert time.monotonic() - started < 10


def test_a_command_on_a_half_open_connection_fails_within_the_socket_timeout(half_open: HalfOpenServer) -> None:
    locks = RedisLockProvider(f"redis://127.0.0.1:{half_open.port}/0?socket_timeout=0.5", prefix="lftest:half-open:")
    started = time.monotonic()
    try:
        with pytest.raises(ProviderError):
            locks.acquire_lock("wf")
    finally:
        locks.close()
    assert time.monotonic() - started < 5  # the attempt and its resend, 0.5 s each


@pytest.mark.redis
def test_execute_many_answers_in_order_with_an_error_reply_in_its_place(redis_url: str, redis_cleanup: str) -> None:
    connection = RedisConnection(redis_url, prefix=redis_cleanup)
    try:
        key = connection.key("many")
        connection.execute("SET", key, "v")
        replies = connection.execute_many([("GET", key), ("HGET", key, "f"), ("STRLEN", key)])
        assert replies[0] == b"v" and isinstance(replies[1], redis.ResponseError) and replies[2] == 1
        assert connection.execute("GET", key) == b"v"  # the connection is still in step
    finally:
        connection.close()
