"""Sharing lifecycle events between hosts: the optional ``lifecycle_hub`` of ``configure_workflow_host``.

A host always calls its own ``on_lifecycle_event`` callbacks for what it does. Given a hub, it also
publishes its events there and calls its callbacks for the events other hosts published (each event is
delivered once per host: a host ignores its own events coming back from the hub).

A hub may also carry the broker's dispatches (:mod:`liteflow.core.broker`): ``publish_data(origin, doc)``
sends a JSON-shaped dict to every ``subscribe_data`` listener, on a channel of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from liteflow.core.lifecycle import LifecycleEvent

#: ``fn(origin_host_id, event)``
HubListener = Callable[[str, LifecycleEvent], None]
#: ``fn(origin_host_id, doc)``
DataListener = Callable[[str, dict[str, Any]], None]


@runtime_checkable
class LifecycleHub(Protocol):
    def publish(self, origin: str, event: LifecycleEvent) -> None: ...

    def subscribe(self, listener: HubListener) -> Callable[[], None]:
        """Start delivering events to ``listener``; returns a function that stops it."""
        ...

    def close(self) -> None: ...


class MemoryLifecycleHub:
    """Hosts in one process sharing this object see each other's events (delivered synchronously)."""

    def __init__(self) -> None:
        self._listeners: list[HubListener] = []
        self._data_listeners: list[DataListener] = []
        self._mutex = threading.Lock()

    def publish(self, origin: str, event: LifecycleEvent) -> None:
        with self._mutex:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(origin, event)

    def subscribe(self, listener: HubListener) -> Callable[[], None]:
        with self._mutex:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._mutex:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish_data(self, origin: str, doc: dict[str, Any]) -> None:
        with self._mutex:
            listeners = list(self._data_listeners)
        for listener in listeners:
            listener(origin, doc)

    def subscribe_data(self, listener: DataListener) -> Callable[[], None]:
        with self._mutex:
            self._data_listeners.append(listener)

        def unsubscribe() -> None:
            with self._mutex:
                if listener in self._data_listeners:
                    self._data_listeners.remove(listener)

        return unsubscribe

    def close(self) -> None:
        with self._mutex:
            self._listeners.clear()
            self._data_listeners.clear()
