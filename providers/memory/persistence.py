"""In-process persistence: instances, events, subscriptions and errors in dictionaries.

User values (workflow data, persistence data, event data, context items, outcomes) go through the same
JSON codec as Redis and MongoDB (:mod:`liteflow.core.codec`): what cannot be stored raises
SerializationError naming the attribute, at ``start_workflow`` and ``publish_event``, and what is read back
is what the other providers give. They are kept as JSON-shaped Python values rather than text, and the
store keeps its own copy of each instance, made from what changed (see ``stored``). Reads return copies.
An instance that has ended is stored frozen (``frozen``: compact tuples the garbage collector need not
walk). The compare-and-set on ``revision`` behaves exactly as in the persistent providers.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from liteflow.core.codec import copy_json, to_jsonable
from liteflow.core.control_state import mark_control
from liteflow.core.errors import (
    ConcurrencyError,
    ControlRequested,
    WorkflowAlreadyExistsError,
    WorkflowNotFoundError,
)
from liteflow.core.models import (
    Event,
    EventSubscription,
    ExecutionError,
    WorkflowInstance,
    WorkflowStatus,
    as_utc,
    to_millis,
)
from liteflow.core.visibility import WorkflowQuery, WorkflowVisibility
from liteflow.providers.memory.frozen import REVISION, FrozenInstance, freeze, thaw, value_of
from liteflow.providers.memory.health import InProcessHealth
from liteflow.providers.memory.schedules import MemorySchedules, MemoryWaitLists
from liteflow.providers.memory.stored import copy_instance, encode_instance, stored_as
from liteflow.providers.memory.visibility import VisibilityIndex


def _utc(value: datetime) -> datetime:
    converted = as_utc(value)
    assert converted is not None
    return converted


def _status_changed(stored: WorkflowInstance | FrozenInstance, status: WorkflowStatus) -> bool:
    return type(stored) is tuple or stored.status is not status


def _discard(index: dict[Any, set[str]], key: Any, item: str) -> None:
    """Take ``item`` out of the set at ``index[key]``, and the set out of ``index`` once it is empty."""
    items = index.get(key)
    if items is not None:
        items.discard(item)
        if not items:
            del index[key]


#: Instance writes are serialised per stripe of ids, not by one lock for the whole store: worker threads
#: persisting different instances never wait for each other (one shared lock made them queue up behind
#: whichever holder the interpreter had just switched away from).
_STRIPES = 64


class MemoryPersistenceProvider(InProcessHealth, MemorySchedules, MemoryWaitLists, WorkflowVisibility):
    """Thread-safe in-memory persistence; user values stored through the JSON codec (see above).

    Instances are read without a lock (a dictionary lookup, then a copy of a stored copy nobody changes)
    and written under the lock of their id's stripe; everything else (subscriptions, events, errors)
    shares one mutex. Ended instances are stored frozen (see ``frozen``).
    """

    stores_json = True

    def __init__(self) -> None:
        self._mutex = threading.RLock()
        self._stripes = tuple(threading.Lock() for _ in range(_STRIPES))
        self._instances: dict[str, WorkflowInstance | FrozenInstance] = {}
        self._subscriptions: dict[str, EventSubscription] = {}
        self._events: dict[str, Event] = {}
        # (event name, key) -> ids, so matching never scans every subscription or event
        self._subscriptions_by_key: dict[tuple[str, str], set[str]] = {}
        self._events_by_key: dict[tuple[str, str], list[str]] = {}
        self._unprocessed: set[str] = set()
        #: workflow id -> its pending control request (written under the id's stripe lock)
        self._controls: dict[str, str] = {}
        self._visibility = VisibilityIndex()
        # workflow id -> its subscriptions' ids and its errors, so purging an instance drops them too
        self._subscriptions_by_workflow: dict[str, set[str]] = {}
        self._errors: dict[str, list[ExecutionError]] = {}

    # -- instances -------------------------------------------------------------------------------------
    def _stripe(self, workflow_id: str) -> threading.Lock:
        return self._stripes[hash(workflow_id) % _STRIPES]

    def create_workflow(self, instance: WorkflowInstance) -> str:
        stored = encode_instance(instance, None, 1)  # raises SerializationError before anything is stored
        created = _utc(instance.create_time)
        with self._stripe(instance.id):
            if instance.id in self._instances:
                raise WorkflowAlreadyExistsError(instance.id)
            self._instances[instance.id] = stored
            # indexed under the stripe: once stored, the poller may queue it and a worker persist it, and
            # a persist indexes only a change of status, so the entry must exist before anyone can write
            self._visibility.add(
                instance.id, created, instance.status, instance.workflow_definition_id, instance.reference
            )
        instance.revision = 1
        stored_as(instance, stored)
        return instance.id

    def persist_workflow(
        self,
        instance: WorkflowInstance,
        subscriptions: Sequence[EventSubscription] = (),
        ended_subscriptions: Sequence[str] = (),
        control_applied: str | None = None,
    ) -> None:
        """The compare-and-set write. The copy to store is made before the stripe's lock is taken, from
        the stored copy read without it; under the lock that copy must still be the one stored (else the
        checks are made again, and the copy again, under the lock). Worker threads switch while holding a
        lock, so the less done under it, the less another thread waits for it."""
        workflow_id = instance.id
        expected = instance.revision
        current = self._check(workflow_id, expected, control_applied)
        revision = expected + 1
        stored = encode_instance(instance, current, revision)  # SerializationError: nothing stored
        status = stored.status
        ended = status is WorkflowStatus.COMPLETE or status is WorkflowStatus.TERMINATED
        kept = freeze(stored) if ended else stored
        moved = _status_changed(current, status)  # the index only follows the status
        with self._stripes[hash(workflow_id) % _STRIPES]:  # self._stripe(workflow_id), one call less
            if self._instances.get(workflow_id) is not current:  # written meanwhile (a lapsed lock)
                current = self._check(workflow_id, expected, control_applied)
                stored = encode_instance(instance, current, revision)
                kept = freeze(stored) if ended else stored
                moved = _status_changed(current, status)
            pending = self._controls.get(workflow_id) if self._controls else None
            if pending is not None:
                if pending != control_applied:
                    raise ControlRequested(workflow_id, expected, pending)
                del self._controls[workflow_id]
            if moved:
                self._visibility.set_status(workflow_id, status)
            if subscriptions or ended_subscriptions:
                with self._mutex:
                    for subscription in subscriptions:
                        self._add_subscription(subscription)
                    for subscription_id in ended_subscriptions:
                        self._drop_subscription(subscription_id)
            instance.__dict__["revision"] = revision  # a plain int field: no need for pydantic's setattr
            self._instances[workflow_id] = kept
        stored_as(instance, stored)

    def _check(self, workflow_id: str, expected: int, control_applied: str | None) -> WorkflowInstance | FrozenInstance:
        """The stored copy a write at ``expected`` replaces; the errors of the compare-and-set."""
        current = self._instances.get(workflow_id)
        if current is None:
            raise WorkflowNotFoundError(workflow_id)
        if (current[REVISION] if type(current) is tuple else current.revision) != expected:
            raise ConcurrencyError(workflow_id, expected)
        pending = self._controls.get(workflow_id) if self._controls else None
        if pending is not None and pending != control_applied:
            raise ControlRequested(workflow_id, expected, pending)
        return current

    def _read(self, workflow_id: str, share_ended: bool = False) -> WorkflowInstance:
        control = self._controls.get(workflow_id) if self._controls else None
        stored = self._instances.get(workflow_id)
        if stored is None:
            raise WorkflowNotFoundError(workflow_id)
        instance = thaw(stored) if isinstance(stored, tuple) else copy_instance(stored, share_ended)
        mark_control(instance, control)
        return instance

    def request_control(self, workflow_id: str, expected: str | None, requests: str) -> bool:
        with self._stripe(workflow_id):
            if workflow_id not in self._instances:
                raise WorkflowNotFoundError(workflow_id)
            if self._controls.get(workflow_id) != expected:
                return False
            self._controls[workflow_id] = requests
            return True

    def get_workflow_instance(self, workflow_id: str) -> WorkflowInstance:
        return self._read(workflow_id)

    def get_workflow_instance_to_run(self, workflow_id: str) -> WorkflowInstance:
        """For the host, which holds the instance's lock and persists what it changes: a copy that shares
        the pointers that have ended, so loading costs no more for a long history than a short one."""
        return self._read(workflow_id, share_ended=True)

    def get_revision(self, workflow_id: str) -> int | None:
        """The stored instance's revision (None if there is none): lets a host reuse an instance it still
        holds instead of copying it again."""
        stored = self._instances.get(workflow_id)
        if stored is None or (self._controls and workflow_id in self._controls):
            return None  # a pending control request: load the instance, which carries it
        return int(value_of(stored, "revision"))

    def get_workflow_instances(self, workflow_ids: Sequence[str]) -> list[WorkflowInstance]:
        found = []
        for workflow_id in workflow_ids:
            try:
                found.append(self._read(workflow_id))
            except WorkflowNotFoundError:  # unknown, or purged meanwhile
                continue
        return found

    def get_runnable_instances(self, as_at: datetime) -> list[str]:
        now = to_millis(_utc(as_at))
        # list(): one step, while other threads add instances; ended (frozen) instances are never due
        return [
            i.id
            for i in list(self._instances.values())
            if not isinstance(i, tuple)
            and i.status == WorkflowStatus.RUNNABLE
            and i.next_execution is not None
            and i.next_execution <= now
        ]

    def purge_workflows(self, status: WorkflowStatus, older_than: datetime) -> int:
        older_than = _utc(older_than)

        def doomed(stored: WorkflowInstance | FrozenInstance) -> bool:
            ended_at = value_of(stored, "complete_time") or value_of(stored, "create_time")
            return bool(value_of(stored, "status") == status and ended_at < older_than)

        purged = 0
        for workflow_id, stored in list(self._instances.items()):
            if not doomed(stored):
                continue
            with self._stripe(workflow_id):  # checked again: it may have been persisted since
                stored = self._instances.get(workflow_id)
                if stored is None or not doomed(stored):
                    continue
                del self._instances[workflow_id]
                self._controls.pop(workflow_id, None)
                self._visibility.remove(workflow_id)
                purged += 1
            with self._mutex:  # what belongs to the instance goes with it
                for subscription_id in list(self._subscriptions_by_workflow.get(workflow_id, ())):
                    self._drop_subscription(subscription_id)
                self._errors.pop(workflow_id, None)
        return purged

    def find_workflows(self, query: WorkflowQuery, skip: int, take: int) -> list[WorkflowInstance]:
        return self.get_workflow_instances(self._visibility.ids(query, skip, take))

    def count_matching(self, query: WorkflowQuery) -> int:
        return self._visibility.count(query)

    # -- subscriptions ---------------------------------------------------------------------------------
    def create_event_subscription(self, subscription: EventSubscription) -> str:
        with self._mutex:
            self._add_subscription(subscription)
        return subscription.id

    def _add_subscription(self, subscription: EventSubscription) -> None:
        self._drop_subscription(subscription.id)
        self._subscriptions[subscription.id] = subscription.model_copy()
        key = (subscription.event_name, subscription.event_key)
        self._subscriptions_by_key.setdefault(key, set()).add(subscription.id)
        self._subscriptions_by_workflow.setdefault(subscription.workflow_id, set()).add(subscription.id)

    def _drop_subscription(self, subscription_id: str) -> None:
        old = self._subscriptions.pop(subscription_id, None)
        if old is not None:
            _discard(self._subscriptions_by_key, (old.event_name, old.event_key), subscription_id)
            _discard(self._subscriptions_by_workflow, old.workflow_id, subscription_id)

    def get_subscriptions(self, event_name: str, event_key: str, as_of: datetime) -> list[EventSubscription]:
        as_of = _utc(as_of)
        with self._mutex:
            found = [
                self._subscriptions[i].model_copy()
                for i in self._subscriptions_by_key.get((event_name, event_key), ())
                if self._subscriptions[i].subscribe_as_of <= as_of
            ]
        return sorted(found, key=lambda s: s.subscribe_as_of)

    def terminate_subscription(self, subscription_id: str, *, workflow_id: str | None = None) -> None:
        with self._mutex:
            self._drop_subscription(subscription_id)

    # -- events ----------------------------------------------------------------------------------------
    def create_event(self, event: Event) -> str:
        stored = event.model_copy(update={"event_data": to_jsonable(event.event_data, "event_data")})
        with self._mutex:
            if event.id not in self._events:
                self._events_by_key.setdefault((event.event_name, event.event_key), []).append(event.id)
            self._events[event.id] = stored
            if stored.is_processed:
                self._unprocessed.discard(event.id)
            else:
                self._unprocessed.add(event.id)
        return event.id

    def get_event(self, event_id: str) -> Event:
        with self._mutex:
            return _copy_event(self._events[event_id])

    def get_events(self, event_name: str, event_key: str, since: datetime, until: datetime) -> list[Event]:
        since, until = _utc(since), _utc(until)
        with self._mutex:
            found = [
                _copy_event(self._events[i])
                for i in self._events_by_key.get((event_name, event_key), ())
                if since <= self._events[i].event_time <= until
            ]
        return sorted(found, key=lambda e: e.event_time)

    def get_runnable_events(self, as_at: datetime) -> list[str]:
        as_at = _utc(as_at)
        with self._mutex:
            return [i for i in self._unprocessed if self._events[i].event_time <= as_at]

    def purge_events(self, older_than: datetime, limit: int | None = None) -> int:
        older_than = _utc(older_than)
        with self._mutex:
            doomed = [e for e in self._events.values() if e.is_processed and e.event_time < older_than]
            if limit is not None and len(doomed) > limit:
                doomed = sorted(doomed, key=lambda e: e.event_time)[:limit]
            for event in doomed:
                del self._events[event.id]
                key = (event.event_name, event.event_key)
                same_key = self._events_by_key.get(key, [])
                same_key.remove(event.id)
                if not same_key:
                    self._events_by_key.pop(key, None)
            return len(doomed)

    def mark_event_processed(self, event_id: str) -> None:
        with self._mutex:
            if event_id in self._events:
                self._events[event_id].is_processed = True
                self._unprocessed.discard(event_id)

    def mark_event_unprocessed(self, event_id: str) -> None:
        with self._mutex:
            if event_id in self._events:
                self._events[event_id].is_processed = False
                self._unprocessed.add(event_id)

    # -- errors ----------------------------------------------------------------------------------------
    def persist_errors(self, errors: Sequence[ExecutionError]) -> None:
        with self._mutex:
            for error in errors:
                self._errors.setdefault(error.workflow_id, []).append(error.model_copy())

    def get_errors(self, workflow_id: str) -> list[ExecutionError]:
        with self._mutex:
            return [e.model_copy() for e in self._errors.get(workflow_id, ())]

    def close(self) -> None:
        pass


def _copy_event(event: Event) -> Event:
    return event.model_copy(update={"event_data": copy_json(event.event_data)})
