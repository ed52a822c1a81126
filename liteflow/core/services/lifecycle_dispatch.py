"""Delivering lifecycle events to a host's callbacks, and sharing them through a lifecycle hub."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from liteflow.core.lifecycle import LifecycleEvent, StepCompleted, StepStarted
from liteflow.core.lifecycle_hub import LifecycleHub
from liteflow.core.log import logger

log = logger("lifecycle")

LifecycleCallback = Callable[[LifecycleEvent], Any]


class _Listener(NamedTuple):
    callback: LifecycleCallback
    #: the event types it takes
    wanted: tuple[type[LifecycleEvent], ...]
    #: whether it takes other hosts' events too (from the hub), or only this host's
    takes_remote: bool


class LifecycleDispatcher:
    """A host's lifecycle callbacks (each for all event types or some), and its hub if it has one.

    Its own events are delivered here and published to the hub; other hosts' events come back from
    the hub (a host ignores its own coming back) to the callbacks that are not ``local_only``. A
    failing callback is logged, never raised. Callbacks run in the order added, except those added
    ``ahead`` (the engine's own bookkeeping, such as a template's running instances), which run before
    all the others.
    """

    def __init__(self, origin: str, hub: LifecycleHub | None) -> None:
        self.origin = origin
        self.hub = hub
        self._listeners: list[_Listener] = []
        #: how many of the listeners, at the front, were added ``ahead``
        self._ahead = 0
        self._step_events_wanted = False
        self._unsubscribe: Callable[[], None] | None = None

    def wants_step_events(self) -> bool:
        """Whether step events are worth making: some callback takes them, or a hub shares them."""
        return self._step_events_wanted or self.hub is not None

    def add(
        self,
        callback: LifecycleCallback,
        types: tuple[type[LifecycleEvent], ...],
        local_only: bool = False,
        ahead: bool = False,
    ) -> None:
        """Call ``callback`` for the events of ``types`` (none given: every event), this host's only if
        ``local_only``; ``ahead``: before every callback added without it."""
        wanted = types or (LifecycleEvent,)
        listener = _Listener(callback, wanted, not local_only)
        if ahead:
            self._listeners.insert(self._ahead, listener)
            self._ahead += 1
        else:
            self._listeners.append(listener)
        if any(issubclass(step_event, wanted) for step_event in (StepStarted, StepCompleted)):
            self._step_events_wanted = True
        if self.hub is not None and self._unsubscribe is None:
            self._unsubscribe = self.hub.subscribe(self._remote)

    def emit(self, events: list[LifecycleEvent]) -> None:
        for event in events:
            self._deliver(event, remote=False)
            if self.hub is not None:
                try:
                    self.hub.publish(self.origin, event)
                except Exception as exc:
                    log.warning("lifecycle.publish_failed", event_type=type(event).__name__, error=str(exc))

    def _remote(self, origin: str, event: LifecycleEvent) -> None:
        if origin != self.origin:
            self._deliver(event, remote=True)

    def _deliver(self, event: LifecycleEvent, remote: bool) -> None:
        for callback, wanted, takes_remote in list(self._listeners):
            if not isinstance(event, wanted) or (remote and not takes_remote):
                continue
            try:
                callback(event)
            except Exception as exc:
                log.warning("lifecycle.callback_failed", event_type=type(event).__name__, error=str(exc))

    def close(self) -> None:
        """Stop listening to the hub."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
