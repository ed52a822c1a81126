"""Lifecycle events shared between hosts through Redis pub/sub."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from liteflow.core.lifecycle import LifecycleEvent, lifecycle_event_from_dict
from liteflow.core.lifecycle_hub import DataListener, HubListener
from liteflow.core.log import logger

from .connection import ConnectionHealth, RedisConnection, RedisSource, provider_errors

log = logger("redis")


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
        """Subscribe (returning once Redis has confirmed it) and deliver each message in a thread."""
        client, _ = self._conn.blocking()
        pubsub = client.pubsub()
        pubsub.subscribe(channel)
        _confirmed(pubsub)
        stopped = threading.Event()

        def listen() -> None:
            while not stopped.is_set():
                try:
                    message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                except Exception as exc:
                    if stopped.is_set():
                        return
                    log.warning("redis.lifecycle_listen_failed", error=str(exc))
                    stopped.wait(1.0)
                    continue
                if message is not None:
                    self._deliver(deliver, message.get("data"))

        thread = threading.Thread(target=listen, name="liteflow-lifecycle", daemon=True)
        thread.start()

        def unsubscribe() -> None:
            stopped.set()
            thread.join(timeout=5)
            pubsub.close()

        return unsubscribe

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
