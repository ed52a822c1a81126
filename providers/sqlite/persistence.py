"""SQLite persistence: instances (their own row plus one row per pointer), subscriptions, events and errors.

The tables are drawn in :mod:`liteflow.providers.sqlite.schema`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import partial
from typing import Any

import pydantic_core

from liteflow.core.changes import changed_pointers, mark_loaded, mark_stored
from liteflow.core.control_state import mark_control
from liteflow.core.errors import ConcurrencyError, ControlRequested, WorkflowAlreadyExistsError, WorkflowNotFoundError
from liteflow.core.log import logger
from liteflow.core.models import (
    Event,
    EventSubscription,
    ExecutionError,
    WorkflowInstance,
    WorkflowStatus,
    to_micros,
    to_millis,
)
from liteflow.core.serialization import dump_event, header_json, instance_from_parts, pointer_json
from liteflow.core.visibility import WorkflowQuery, WorkflowVisibility

from .database import Database
from .health import FileHealth
from .schedules import SqliteSchedules, SqliteWaitLists

log = logger("sqlite")

#: Ids per statement (``IN (?, ?, ...)``), well within SQLite's limit on parameters.
_BATCH = 500

#: The compare-and-set: on the revision, and on the pending control requests (none, or the ones applied,
#: which the write clears).
_UPDATE = (
    "UPDATE instances SET revision = ?, next_execution = ?, pointer_count = ?, doc = ?, control = NULL"
    " WHERE id = ? AND revision = ? AND (control IS NULL OR control = ?)"
)
#: Apart, and only when they differ: an UPDATE that names a column rewrites the index entries holding it.
_UPDATE_STATUS = "UPDATE instances SET status = ?, end_time = ? WHERE id = ? AND (status <> ? OR end_time <> ?)"
_INSERT = (
    "INSERT INTO instances (id, revision, status, definition_id, reference, create_time, end_time,"
    " next_execution, pointer_count, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_POINTER = (
    "INSERT INTO pointers (workflow_id, position, doc) VALUES (?, ?, ?)"
    " ON CONFLICT (workflow_id, position) DO UPDATE SET doc = excluded.doc"
)
_SUBSCRIPTION = (
    "INSERT OR REPLACE INTO subscriptions (id, event_name, event_key, as_of, doc, workflow_id)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _batches(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _BATCH):
        yield ids[start : start + _BATCH]


class _Encoded:
    """An instance turned into the values a store writes (before any transaction: a SerializationError
    leaves the database untouched)."""

    def __init__(self, instance: WorkflowInstance, revision: int) -> None:
        self.written = changed_pointers(instance)
        current, instance.revision = instance.revision, revision
        try:
            self.header = header_json(instance)
            self.pointers = [(instance.id, position, pointer_json(p)) for position, p in self.written]
        finally:
            instance.revision = current
        status = WorkflowStatus(instance.status)
        self.status = status.value
        self.end_time = to_micros(instance.complete_time or instance.create_time)
        runnable = status is WorkflowStatus.RUNNABLE and instance.next_execution is not None
        self.next_execution = instance.next_execution if runnable else None
        self.count = len(instance.execution_pointers)


class SqlitePersistenceProvider(FileHealth, SqliteSchedules, SqliteWaitLists, WorkflowVisibility):
    """Persistence in one SQLite file, shared by any number of threads and processes on the machine.

    Guarantees:

    * documents are compact JSON (never pickle; workflow data stays JSON on load, the host rebuilds it);
    * ``create_workflow`` refuses an id that exists (the primary key: atomic, whoever races it), with a
      :class:`WorkflowAlreadyExistsError`, storing nothing (a transaction's outcome is always known
      here, so no create is ever sent again after a lost answer);
    * pending control requests are the row's ``control`` column, set by ``request_control`` (a
      compare-and-set on it, leaving the instance and its revision alone) and cleared by the persist that
      applies them; a persist while others are pending is refused (:class:`ControlRequested`);
    * ``persist_workflow`` is one transaction: the compare-and-set on the revision (and the pending
      control requests), the instance's row,
      the pointers that changed (see ``liteflow.core.changes``: one row each, the others untouched) and
      the subscriptions it makes and ends, together or not at all;
    * every query reads an index (runnable instances, instances by status / definition / reference /
      time, subscriptions and events by name, key and time, unprocessed events), never the whole table;
    * an instance is read in one snapshot, its row and its pointers agreeing.
    """

    stores_json = True

    def __init__(self, path: str | os.PathLike[str], synchronous: str = "NORMAL") -> None:
        self._db = Database.open(path, synchronous)
        self.path = self._db.path
        self._closed = False

    # -- instances -------------------------------------------------------------------------------------
    def create_workflow(self, instance: WorkflowInstance) -> str:
        encoded = _Encoded(instance, 1)
        row = (
            instance.id,
            1,
            encoded.status,
            instance.workflow_definition_id,
            instance.reference,
            to_micros(instance.create_time),
            encoded.end_time,
            encoded.next_execution,
            encoded.count,
            encoded.header,
        )

        def insert(connection: sqlite3.Connection) -> bool:
            try:
                connection.execute(_INSERT, row)
            except sqlite3.IntegrityError:
                return False
            connection.executemany(_POINTER, encoded.pointers)
            return True

        if not self._db.write("create_workflow", insert):
            raise WorkflowAlreadyExistsError(instance.id)
        instance.revision = 1
        mark_stored(instance, encoded.written)
        return instance.id

    def persist_workflow(
        self,
        instance: WorkflowInstance,
        subscriptions: Sequence[EventSubscription] = (),
        ended_subscriptions: Sequence[str] = (),
        control_applied: str | None = None,
    ) -> None:
        expected = instance.revision
        encoded = _Encoded(instance, expected + 1)
        update = (
            expected + 1,
            encoded.next_execution,
            encoded.count,
            encoded.header,
            instance.id,
            expected,
            control_applied,
        )
        status = (encoded.status, encoded.end_time, instance.id, encoded.status, encoded.end_time)
        made = [_subscription_row(s) for s in subscriptions]

        def store(connection: sqlite3.Connection) -> int | str:
            if connection.execute(_UPDATE, update).rowcount != 1:
                found = connection.execute(
                    "SELECT revision, control FROM instances WHERE id = ?", (instance.id,)
                ).fetchone()
                if found is None:
                    return -1
                revision, pending = found
                return str(pending) if revision == expected and pending is not None else 0
            connection.execute(_UPDATE_STATUS, status)
            connection.executemany(_POINTER, encoded.pointers)
            connection.execute(
                "DELETE FROM pointers WHERE workflow_id = ? AND position >= ?", (instance.id, encoded.count)
            )
            if ended_subscriptions:
                connection.executemany("DELETE FROM subscriptions WHERE id = ?", [(i,) for i in ended_subscriptions])
            if made:
                connection.executemany(_SUBSCRIPTION, made)
            return 1

        outcome = self._db.write("persist_workflow", store)
        if outcome == -1:
            raise WorkflowNotFoundError(instance.id)
        if isinstance(outcome, str):
            raise ControlRequested(instance.id, expected, outcome)
        if outcome == 0:
            log.debug("persist.conflict", workflow_id=instance.id, revision=expected)
            raise ConcurrencyError(instance.id, expected)
        instance.revision = expected + 1
        mark_stored(instance, encoded.written)

    def request_control(self, workflow_id: str, expected: str | None, requests: str) -> bool:
        def swap(connection: sqlite3.Connection) -> int:
            if connection.execute(
                "UPDATE instances SET control = ? WHERE id = ? AND control IS ?", (requests, workflow_id, expected)
            ).rowcount:
                return 1
            return 0 if connection.execute("SELECT 1 FROM instances WHERE id = ?", (workflow_id,)).fetchone() else -1

        outcome = self._db.write("request_control", swap)
        if outcome == -1:
            raise WorkflowNotFoundError(workflow_id)
        return outcome == 1

    def get_workflow_instance(self, workflow_id: str) -> WorkflowInstance:
        found = self._load([workflow_id], "get_workflow_instance")
        if not found:
            raise WorkflowNotFoundError(workflow_id)
        return found[0]

    def get_revision(self, workflow_id: str) -> int | None:
        """The stored instance's revision (None if there is none): lets a host reuse an instance it still
        holds in memory instead of loading it again."""
        rows = self._db.query("get_revision", "SELECT revision, control FROM instances WHERE id = ?", (workflow_id,))
        # a pending control request: None, so the host loads the instance, which carries it
        return int(rows[0][0]) if rows and rows[0][1] is None else None

    def get_workflow_instances(self, workflow_ids: Sequence[str]) -> list[WorkflowInstance]:
        found: list[WorkflowInstance] = []
        for batch in _batches(list(dict.fromkeys(workflow_ids))):
            found += self._load(batch, "get_workflow_instances")
        return found

    def _load(self, workflow_ids: Sequence[str], action: str) -> list[WorkflowInstance]:
        """The instances with these ids that exist, in the order given; each one counts as stored."""
        marks = _marks(len(workflow_ids))

        def read(connection: sqlite3.Connection) -> tuple[list[Any], list[Any]]:
            if len(workflow_ids) == 1:
                headers = connection.execute(
                    "SELECT id, doc, control FROM instances WHERE id = ?", workflow_ids
                ).fetchall()
                if not headers:
                    return [], []
                pointers = connection.execute(
                    "SELECT workflow_id, doc FROM pointers WHERE workflow_id = ? ORDER BY position", workflow_ids
                ).fetchall()
                return headers, pointers
            found = connection.execute(f"SELECT id, doc, control FROM instances WHERE id IN ({marks})", workflow_ids)
            headers = found.fetchall()
            found = connection.execute(
                f"SELECT workflow_id, doc FROM pointers WHERE workflow_id IN ({marks}) ORDER BY workflow_id, position",
                workflow_ids,
            )
            return headers, found.fetchall()

        headers, pointer_rows = self._db.read(action, read)
        by_instance: dict[str, list[bytes]] = {}
        for workflow_id, doc in pointer_rows:
            by_instance.setdefault(workflow_id, []).append(doc)
        docs = {workflow_id: (doc, control) for workflow_id, doc, control in headers}
        found = []
        for workflow_id in workflow_ids:
            header = docs.get(workflow_id)
            if header is not None:
                instance = instance_from_parts(header[0], by_instance.get(workflow_id, []))
                mark_loaded(instance)
                mark_control(instance, header[1])
                found.append(instance)
        return found

    def get_runnable_instances(self, as_at: datetime) -> list[str]:
        rows = self._db.query(
            "get_runnable_instances",
            "SELECT id FROM instances WHERE next_execution <= ? ORDER BY next_execution",
            (to_millis(as_at),),
        )
        return [row[0] for row in rows]

    def purge_workflows(self, status: WorkflowStatus, older_than: datetime) -> int:
        """Deletes the instances in ``status`` whose ``complete_time`` (or ``create_time``) is before
        ``older_than``, with their pointers, subscriptions and errors, a transaction per 500."""
        where = (WorkflowStatus(status).value, to_micros(older_than))

        def purge(connection: sqlite3.Connection) -> int:
            rows = connection.execute(
                "DELETE FROM instances WHERE id IN (SELECT id FROM instances WHERE status = ? AND end_time < ?"
                f" LIMIT {_BATCH}) RETURNING id",
                where,
            ).fetchall()
            ids = [(row[0],) for row in rows]
            connection.executemany("DELETE FROM pointers WHERE workflow_id = ?", ids)
            connection.executemany("DELETE FROM subscriptions WHERE workflow_id = ?", ids)
            connection.executemany("DELETE FROM errors WHERE workflow_id = ?", ids)
            return len(ids)

        total = 0
        while True:
            deleted = self._db.write("purge_workflows", purge)
            total += deleted
            if deleted < _BATCH:
                break
        log.info("purge.done", status=where[0], deleted=total)
        return total

    # -- visibility ------------------------------------------------------------------------------------
    def find_workflows(self, query: WorkflowQuery, skip: int, take: int) -> list[WorkflowInstance]:
        where, parameters = _filters(query)
        if take == 0:
            return []
        rows = self._db.query(
            "list_workflows",
            f"SELECT id FROM instances{where} ORDER BY create_time DESC, id DESC LIMIT ? OFFSET ?",
            (*parameters, take, skip),
        )
        return self.get_workflow_instances([row[0] for row in rows])

    def count_matching(self, query: WorkflowQuery) -> int:
        where, parameters = _filters(query)
        return int(self._db.query("count_workflows", f"SELECT count(*) FROM instances{where}", parameters)[0][0])

    # -- subscriptions ---------------------------------------------------------------------------------
    def create_event_subscription(self, subscription: EventSubscription) -> str:
        row = _subscription_row(subscription)
        self._db.write("create_event_subscription", lambda connection: connection.execute(_SUBSCRIPTION, row))
        return subscription.id

    def get_subscriptions(self, event_name: str, event_key: str, as_of: datetime) -> list[EventSubscription]:
        rows = self._db.query(
            "get_subscriptions",
            "SELECT doc FROM subscriptions WHERE event_name = ? AND event_key = ? AND as_of <= ? ORDER BY as_of",
            (event_name, event_key, to_micros(as_of)),
        )
        return [EventSubscription.model_validate_json(row[0]) for row in rows]

    def terminate_subscription(self, subscription_id: str, *, workflow_id: str | None = None) -> None:
        self._db.write(
            "terminate_subscription",
            lambda connection: connection.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,)),
        )

    # -- events ----------------------------------------------------------------------------------------
    def create_event(self, event: Event) -> str:
        row = (
            event.id,
            event.event_name,
            event.event_key,
            to_micros(event.event_time),
            1 if event.is_processed else 0,
            _json(dump_event(event)),
        )
        self._db.write(
            "create_event",
            lambda connection: connection.execute(
                "INSERT OR REPLACE INTO events (id, event_name, event_key, event_time, processed, doc)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                row,
            ),
        )
        return event.id

    def get_event(self, event_id: str) -> Event:
        """Raises KeyError for an unknown id."""
        rows = self._db.query("get_event", "SELECT doc, processed FROM events WHERE id = ?", (event_id,))
        if not rows:
            raise KeyError(event_id)
        return _event(*rows[0])

    def get_events(self, event_name: str, event_key: str, since: datetime, until: datetime) -> list[Event]:
        rows = self._db.query(
            "get_events",
            "SELECT doc, processed FROM events WHERE event_name = ? AND event_key = ?"
            " AND event_time >= ? AND event_time <= ? ORDER BY event_time",
            (event_name, event_key, to_micros(since), to_micros(until)),
        )
        return [_event(doc, processed) for doc, processed in rows]

    def get_runnable_events(self, as_at: datetime) -> list[str]:
        rows = self._db.query(
            "get_runnable_events",
            "SELECT id FROM events WHERE processed = 0 AND event_time <= ? ORDER BY event_time",
            (to_micros(as_at),),
        )
        return [row[0] for row in rows]

    def purge_events(self, older_than: datetime, limit: int | None = None) -> int:
        """Processed events before ``older_than`` go, the oldest first, a transaction per 500 (at most
        ``limit`` of them, if given)."""
        cutoff = to_micros(older_than)

        def purge(connection: sqlite3.Connection, batch: int) -> int:
            return connection.execute(
                "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE processed = 1 AND event_time < ?"
                " ORDER BY event_time LIMIT ?)",
                (cutoff, batch),
            ).rowcount

        total = 0
        while limit is None or total < limit:
            batch = _BATCH if limit is None else min(_BATCH, limit - total)
            deleted = self._db.write("purge_events", partial(purge, batch=batch))
            total += deleted
            if deleted < batch:
                break
        return total

    def mark_event_processed(self, event_id: str) -> None:
        self._mark(event_id, 1)

    def mark_event_unprocessed(self, event_id: str) -> None:
        self._mark(event_id, 0)

    def _mark(self, event_id: str, processed: int) -> None:
        self._db.write(
            "mark_event",
            lambda connection: connection.execute(
                "UPDATE events SET processed = ? WHERE id = ?", (processed, event_id)
            ),
        )

    # -- errors ----------------------------------------------------------------------------------------
    def persist_errors(self, errors: Sequence[ExecutionError]) -> None:
        if not errors:
            return
        rows = [(error.workflow_id, error.model_dump_json()) for error in errors]
        self._db.write(
            "persist_errors",
            lambda connection: connection.executemany("INSERT INTO errors (workflow_id, doc) VALUES (?, ?)", rows),
        )

    def get_errors(self, workflow_id: str) -> list[ExecutionError]:
        rows = self._db.query("get_errors", "SELECT doc FROM errors WHERE workflow_id = ? ORDER BY seq", (workflow_id,))
        return [ExecutionError.model_validate_json(row[0]) for row in rows]

    def close(self) -> None:
        """Done with the file (the process's last SQLite provider on it closes its connections)."""
        if not self._closed:
            self._closed = True
            self._db.release()


def _filters(query: WorkflowQuery) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause and its parameters of a visibility query (served by the instances_* indexes)."""
    clauses: list[str] = []
    parameters: list[Any] = []
    for clause, value in (
        ("status = ?", None if query.status is None else query.status.value),
        ("definition_id = ?", query.definition_id),
        ("reference = ?", query.reference),
        ("create_time >= ?", None if query.created_from is None else to_micros(query.created_from)),
        ("create_time < ?", None if query.created_to is None else to_micros(query.created_to)),
    ):
        if value is not None:
            clauses.append(clause)
            parameters.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(parameters)


def _subscription_row(subscription: EventSubscription) -> tuple[Any, ...]:
    return (
        subscription.id,
        subscription.event_name,
        subscription.event_key,
        to_micros(subscription.subscribe_as_of),
        subscription.model_dump_json(),
        subscription.workflow_id,
    )


def _json(document: Any) -> bytes:
    return pydantic_core.to_json(document)


def _event(doc: bytes | str, processed: int) -> Event:
    event = Event.model_validate_json(doc)
    event.is_processed = bool(processed)  # the column is the truth (marks change it, not the document)
    return event
