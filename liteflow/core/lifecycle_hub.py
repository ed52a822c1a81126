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
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from liteflow.core.lifecycle import LifecycleEvent

_T = TypeVar("_T")

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


class _Channel(Generic[_T]):
    """Listeners ``fn(origin, value)`` of one kind of message, each called for every value published."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[str, _T], None]] = []
        self._mutex = threading.Lock()

    def publish(self, origin: str, value: _T) -> None:
        with self._mutex:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(origin, value)

    def subscribe(self, listener: Callable[[str, _T], None]) -> Callable[[], None]:
        with self._mutex:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._mutex:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def clear(self) -> None:
        with self._mutex:
            self._listeners.clear()


class MemoryLifecycleHub:
    """Hosts in one process sharing this object see each other's events (delivered synchronously)."""

    def __init__(self) -> None:
        self._events: _Channel[LifecycleEvent] = _Channel()
        self._data: _Channel[dict[str, Any]] = _Channel()

    def publish(self, origin: str, event: LifecycleEvent) -> None:
        self._events.publish(origin, event)

    def subscribe(self, listener: HubListener) -> Callable[[], None]:
        return self._events.subscribe(listener)

    def publish_data(self, origin: str, doc: dict[str, Any]) -> None:
        self._data.publish(origin, doc)

    def subscribe_data(self, listener: DataListener) -> Callable[[], None]:
        return self._data.subscribe(listener)

    def close(self) -> None:
        self._events.clear()
        self._data.clear()
