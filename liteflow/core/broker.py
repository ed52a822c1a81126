"""tukio's broker: handlers registered on topics, and data dispatched to them (``host.broker``).

::

    def on_order(event):                  # an Event: .data, .topic, .source
        ...

    host.broker.register(on_order, topic="orders")   # topic=None: every topic
    host.broker.dispatch({"id": 42}, topic="orders")
    host.broker.unregister(on_order, topic="orders")

A handler is called in the dispatching thread (an ``async def`` handler is scheduled on the host's event
loop and not awaited). A failing handler is logged, never raised. A ``keeper`` (the templates package sets
one) may store a dispatch first, for the tasks that listen to its topic (see
:mod:`liteflow.core.templates.inbox`). With a lifecycle hub that carries data
(:class:`~liteflow.core.lifecycle_hub.MemoryLifecycleHub`, the Redis hub), a dispatch also reaches the
handlers of every other host sharing the hub, once each; the data then has to be JSON-shaped
(:class:`~liteflow.core.errors.SerializationError` otherwise, at ``dispatch``). Like lifecycle events, that
is fire-and-forget: a handler that is not registered at that moment never sees it.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from liteflow.core.log import logger
from liteflow.core.models import new_id
from liteflow.core.serialization import to_jsonable

log = logger("broker")

#: The topic task and workflow begin/end are dispatched to.
EXEC_TOPIC = "liteflow.exec"


@dataclass
class BrokerEvent:
    """What a broker handler receives (tukio's ``Event``): the ``data``, the ``topic`` it was dispatched
    to (None: no topic) and its ``source`` (who dispatched it: ``{"host_id": ...}``, plus the
    ``workflow_id``/``template_id``/``task_id`` when a workflow's task did)."""

    data: Any
    topic: str | None = None
    source: dict[str, Any] = field(default_factory=dict)
    #: The dispatch's id (the same on every host, and in the store when the dispatch was kept).
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"data": self.data, "topic": self.topic, "source": dict(self.source), "id": self.id}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> BrokerEvent:
        source = doc.get("source")
        topic = doc.get("topic")
        event_id = doc.get("id")
        return cls(
            data=doc.get("data"),
            topic=None if topic is None else str(topic),
            source=dict(source) if isinstance(source, dict) else {},
            id=None if event_id is None else str(event_id),
        )


#: tukio's name for it, importable as ``liteflow.core.broker.Event`` (``liteflow.core.Event`` is a
#: published workflow event, another thing).
Event = BrokerEvent

Handler = Callable[[BrokerEvent], Any]
#: Stores a dispatch before it is delivered (see :mod:`liteflow.core.templates.inbox`).
Keeper = Callable[[BrokerEvent], None]


class Broker:
    """The handlers of one host by topic (None: every topic), and sharing dispatches through a hub."""

    def __init__(self, host_id: str, hub: Any = None, loop: Callable[[], asyncio.AbstractEventLoop] | None = None):
        self.host_id = host_id
        self._hub = hub if callable(getattr(hub, "publish_data", None)) else None
        self._loop = loop
        self._handlers: dict[str | None, list[Handler]] = {}
        self._mutex = threading.Lock()
        self._unsubscribe: Callable[[], None] | None = None
        #: Called with every dispatch before it is delivered (it may store it); None: nothing is kept.
        self.keeper: Keeper | None = None

    @property
    def shared(self) -> bool:
        """Whether dispatches reach other hosts."""
        return self._hub is not None

    def register(self, handler: Handler, topic: str | None = None) -> None:
        if not callable(handler):
            raise TypeError(f"a broker handler must be callable, got {handler!r}")
        with self._mutex:
            handlers = self._handlers.setdefault(topic, [])
            if handler not in handlers:
                handlers.append(handler)
            if self._hub is not None and self._unsubscribe is None:
                self._unsubscribe = self._hub.subscribe_data(self._remote)

    def unregister(self, handler: Handler, topic: str | None = None) -> bool:
        """Remove ``handler`` from ``topic``; False if it was not registered there."""
        with self._mutex:
            handlers = self._handlers.get(topic, [])
            if handler not in handlers:
                return False
            handlers.remove(handler)
            if not handlers:
                del self._handlers[topic]
            return True

    def handlers(self, topic: str | None = None) -> list[Handler]:
        """The handlers registered on ``topic`` (None: those registered for every topic)."""
        with self._mutex:
            return list(self._handlers.get(topic, ()))

    def dispatch(self, data: Any, topic: str | None = None, source: dict[str, Any] | None = None) -> None:
        """Call every handler of ``topic`` (and those of every topic), here and, with a hub, on other hosts."""
        if self._hub is None and self.keeper is None and not self._handlers:
            return  # nobody to tell, nothing to keep
        event = BrokerEvent(data, topic, {"host_id": self.host_id, **(source or {})}, new_id())
        if self.keeper is not None:
            self.keeper(event)
        if self._hub is not None:
            message = {**event.to_dict(), "data": to_jsonable(data, "data")}
            try:
                self._hub.publish_data(self.host_id, message)
            except Exception as exc:
                log.warning("broker.publish_failed", topic=topic, error=str(exc))
        self.deliver(event)

    def deliver(self, event: BrokerEvent) -> None:
        with self._mutex:
            handlers = list(self._handlers.get(event.topic, ()))
            if event.topic is not None:
                handlers += [h for h in self._handlers.get(None, ()) if h not in handlers]
        for handler in handlers:
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    self._schedule(result)
            except Exception as exc:
                log.warning("broker.handler_failed", topic=event.topic, error=f"{type(exc).__name__}: {exc}")

    def _schedule(self, awaitable: Any) -> None:
        if self._loop is None:
            log.warning("broker.no_loop_for_async_handler")
            return

        async def run() -> None:
            try:
                await awaitable
            except Exception as exc:
                log.warning("broker.handler_failed", error=f"{type(exc).__name__}: {exc}")

        asyncio.run_coroutine_threadsafe(run(), self._loop())

    def _remote(self, origin: str, doc: dict[str, Any]) -> None:
        if origin != self.host_id:
            self.deliver(BrokerEvent.from_dict(doc))

    def close(self) -> None:
        with self._mutex:
            unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()


__all__ = ["EXEC_TOPIC", "Broker", "BrokerEvent", "Event", "Handler"]
