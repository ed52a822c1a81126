"""Lifecycle events shared between hosts through Redis pub/sub."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from liteflow.core.lifecycle import LifecycleEvent, lifecycle_event_from_dict
from liteflow.core.lifecycle_hub import HubListener
from liteflow.core.log import logger

from .connection import ConnectionHealth, RedisConnection, RedisSource, provider_errors

log = logger("redis")


class RedisLifecycleHub(ConnectionHealth):
    """Publishes every lifecycle event of a host on one channel; a listener thread per subscription
    receives those of every host. Events are JSON; an unknown event type is dropped (never constructed).
    Pub/sub is fire-and-forget: a host that is disconnected misses what is published meanwhile."""

    def __init__(self, url_or_client: RedisSource, prefix: str = "liteflow:") -> None:
        self._conn = RedisConnection(url_or_client, prefix)
        self._channel = self._conn.key("lifecycle")

    def publish(self, origin: str, event: LifecycleEvent) -> None:
        message = json.dumps({"origin": origin, "event": event.to_dict()}, separators=(",", ":"))
        with provider_errors("publish lifecycle event"):
            self._conn.client.publish(self._channel, message)

    def subscribe(self, listener: HubListener) -> Callable[[], None]:
        client, _ = self._conn.blocking()
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self._channel)
        stopped = threading.Event()

        def listen() -> None:
            while not stopped.is_set():
                try:
                    message = pubsub.get_message(timeout=0.5)
                except Exception as exc:
                    if stopped.is_set():
                        return
                    log.warning("redis.lifecycle_listen_failed", error=str(exc))
                    stopped.wait(1.0)
                    continue
                if message is not None:
                    self._deliver(listener, message.get("data"))

        thread = threading.Thread(target=listen, name="liteflow-lifecycle", daemon=True)
        thread.start()

        def unsubscribe() -> None:
            stopped.set()
            thread.join(timeout=5)
            pubsub.close()

        return unsubscribe

    @staticmethod
    def _deliver(listener: HubListener, data: Any) -> None:
        try:
            doc = json.loads(data)
            event = lifecycle_event_from_dict(doc["event"])
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("redis.lifecycle_bad_message", error=str(exc))
            return
        if event is not None:
            listener(str(doc.get("origin")), event)

    def close(self) -> None:
        self._conn.close()
