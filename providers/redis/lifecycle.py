"""Lifecycle events shared between hosts through Redis pub/sub."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from redis.cluster import RedisCluster

from liteflow.core.lifecycle import LifecycleEvent, lifecycle_event_from_dict
from liteflow.core.lifecycle_hub import DataListener, HubListener
from liteflow.core.log import logger

from .connection import ConnectionHealth, RedisConnection, RedisSource, provider_errors

log = logger("redis")

#: The first and the longest wait before a lost subscription is made again (the wait doubles meanwhile).
_RETRY_FIRST = 0.1
_RETRY_LONGEST = 2.0


class RedisLifecycleHub(ConnectionHealth):
    """Publishes every lifecycle event of a host on one channel; a listener thread per subscription
    receives those of every host. Events are JSON; an unknown event type is dropped (never constructed).
    Broker dispatches (``publish_data``) travel the same way on a second channel.
    Pub/sub is fire-and-forget: a host that is disconnected misses what is published meanwhile."""

    def __init__(self, url_or_client: RedisSource, prefix: str = "liteflow:") -> None:
        self._conn = RedisConnection(url_or_client, prefix)
        self._channel = self._conn.key("lifecycle")
        self._data_channel = self._conn.key("broker")

    def publish(self, origin: str, event: LifecycleEvent) -> None:
        self._publish(self._channel, {"origin": origin, "event": event.to_dict()}, "publish lifecycle event")

    def publish_data(self, origin: str, doc: dict[str, Any]) -> None:
        self._publish(self._data_channel, {"origin": origin, "data": doc}, "publish broker data")

    def _publish(self, channel: str, doc: dict[str, Any], what: str) -> None:
        message = json.dumps(doc, separators=(",", ":"))
        with provider_errors(what):
            self._conn.client.publish(channel, message)

    def subscribe(self, listener: HubListener) -> Callable[[], None]:
        def deliver(doc: dict[str, Any]) -> None:
            event = lifecycle_event_from_dict(doc["event"])
            if event is not None:
                listener(str(doc.get("origin")), event)

        return self._listen(self._channel, deliver)

    def subscribe_data(self, listener: DataListener) -> Callable[[], None]:
        def deliver(doc: dict[str, Any]) -> None:
            data = doc["data"]
            if isinstance(data, dict):
                listener(str(doc.get("origin")), data)

        return self._listen(self._data_channel, deliver)

    def _listen(self, channel: str, deliver: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Subscribe (returning once Redis has confirmed it) and deliver each message in a thread.

        On a listen error (a lost connection, a failed-over cluster node) the pub/sub is closed and a new
        one subscribes, retried with a growing delay: a pub/sub stays bound to the node it first used,
        which on a cluster may never come back (its replica took its slots over)."""
        pubsub: Any = self._subscribed(channel)
        stopped = threading.Event()

        def listen() -> None:
            nonlocal pubsub
            delay = _RETRY_FIRST
            try:
                while not stopped.is_set():
                    try:
                        if pubsub is None:
                            pubsub = self._subscribed(channel, refresh=True)
                            log.info("redis.lifecycle_resubscribed", channel=channel)
                        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                    except Exception as exc:
                        if stopped.is_set():
                            return
                        log.warning("redis.lifecycle_listen_failed", channel=channel, error=str(exc), retry_in=delay)
                        if pubsub is not None:
                            _close_quietly(pubsub)
                            pubsub = None
                        stopped.wait(delay)
                        delay = min(delay * 2, _RETRY_LONGEST)
                        continue
                    delay = _RETRY_FIRST
                    if message is not None:
                        self._deliver(deliver, message.get("data"))
            finally:
                if pubsub is not None and stopped.is_set():
                    _close_quietly(pubsub)

        thread = threading.Thread(target=listen, name="liteflow-lifecycle", daemon=True)
        thread.start()

        def unsubscribe() -> None:
            stopped.set()
            thread.join(timeout=5)
            if pubsub is not None:
                _close_quietly(pubsub)

        return unsubscribe

    def _subscribed(self, channel: str, refresh: bool = False) -> Any:
        """A new pub/sub subscribed to ``channel``, once Redis has confirmed it. With ``refresh`` on a
        cluster, the slot map is read again first, so the pub/sub goes to the node that serves the
        channel's slot now (after a failover, the promoted replica)."""
        client, _ = self._conn.blocking()
        if refresh and isinstance(client, RedisCluster):
            client.nodes_manager.initialize()
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(channel)
            _confirmed(pubsub)
        except BaseException:
            _close_quietly(pubsub)
            raise
        return pubsub

    @staticmethod
    def _deliver(deliver: Callable[[dict[str, Any]], None], data: Any) -> None:
        try:
            deliver(json.loads(data))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("redis.lifecycle_bad_message", error=str(exc))

    def close(self) -> None:
        self._conn.close()


def _confirmed(pubsub: Any, within: float = 5.0) -> None:
    """Wait for Redis to confirm the subscription, so what is published from now on is received."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
        if message is not None and message.get("type") == "subscribe":
            return
    log.warning("redis.subscribe_unconfirmed", within=within)


def _close_quietly(pubsub: Any) -> None:
    try:
        pubsub.close()
    except Exception as exc:  # closing a broken pub/sub is best effort
        log.debug("redis.lifecycle_close_failed", error=str(exc))
