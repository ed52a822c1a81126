"""Topic data kept for the tasks that listen to it, so a task run again (its host died) still gets it.

A host that dispatches to a topic one of its loaded templates' tasks listens to (``"topics"``) first
stores the dispatch as a processed :class:`~liteflow.core.models.Event` named :data:`TOPIC_EVENT`, keyed
by the topic (processed: the event consumer never looks at it; ``host.purge_events`` removes it like any
processed event). A task with topics, when it starts, listens live and reads what was stored for its
topics since its instance started; it receives each dispatch once (by its id), oldest first. A task that
runs again after its host died therefore receives again everything dispatched since its instance
started, the data its first run had already taken included.

Not kept: dispatches from a host that has not loaded such a template (delivered live only, through the
hub), and dispatches to topics no loaded task listens to.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from liteflow.core.broker import BrokerEvent
from liteflow.core.models import Event, utcnow
from liteflow.core.serialization import to_jsonable

#: The event name dispatches to listened-to topics are stored under.
TOPIC_EVENT = "liteflow.topic"
#: Stored events a little past now are read too (clocks of hosts differ a little).
_SKEW = timedelta(seconds=5)


class TopicKeeper:
    """The broker keeper of one host: stores the dispatches its templates' tasks may need again."""

    def __init__(self, persistence: Any, topics: Callable[[], Iterable[str]]) -> None:
        self.persistence = persistence
        self.topics = topics

    def __call__(self, event: BrokerEvent) -> None:
        if event.topic is None or event.topic not in set(self.topics()):
            return
        doc = {"data": to_jsonable(event.data, "data"), "source": to_jsonable(event.source, "source")}
        stored = Event(
            event_name=TOPIC_EVENT, event_key=event.topic, event_data=doc, event_time=utcnow(), is_processed=True
        )
        if event.id is not None:
            stored.id = event.id
        self.persistence.create_event(stored)


def stored_since(persistence: Any, topics: Iterable[str], since: datetime) -> list[BrokerEvent]:
    """What was kept for ``topics`` since ``since``, oldest first."""
    found: list[Event] = []
    until = utcnow() + _SKEW
    for topic in topics:
        found += persistence.get_events(TOPIC_EVENT, topic, since, until)
    found.sort(key=lambda e: e.event_time)
    events = []
    for event in found:
        doc = event.event_data if isinstance(event.event_data, dict) else {}
        source = doc.get("source")
        events.append(
            BrokerEvent(doc.get("data"), event.event_key, source if isinstance(source, dict) else {}, event.id)
        )
    return events


class Deduplicator:
    """Lets each dispatch through once: the live ones and the stored ones may overlap."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._mutex = threading.Lock()

    def first_time(self, event: BrokerEvent) -> bool:
        if event.id is None:
            return True
        with self._mutex:
            if event.id in self._seen:
                return False
            self._seen.add(event.id)
            return True


__all__ = ["TOPIC_EVENT", "Deduplicator", "TopicKeeper", "stored_since"]
