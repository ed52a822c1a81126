"""The tables and indexes of a LiteFlow SQLite file (made on first open; ``PRAGMA user_version`` records it).

Times are integers: epoch microseconds (create, end, subscription and event times), except an
instance's ``next_execution``, kept as the host computes it (epoch milliseconds), and a lock's expiry
(epoch seconds, a float: locks are shared by processes, so wall-clock time).

::

    instances      one row per instance: its JSON without pointers (doc) and the columns queries use
                   (revision for the compare-and-set; status, definition, reference, times)
    pointers       one row per execution pointer: (workflow_id, position) -> its JSON; a persist writes
                   only the pointers that changed, so a step costs the same however long the history
    subscriptions  by (event name, key, subscribe_as_of)
    events         by (event name, key, time) and by (processed, time)
    errors         execution errors in the order they were stored
    queue          queued ids (kind, item_id) in FIFO order (seq, never reused); an id is queued once
                   per kind
    doorbells      the sockets of the processes waiting on a queue (see ``doorbell``)
    locks          resource -> the owner's token for this acquisition and its lease's expiry
    schedules      id -> the schedule's JSON and its next due time (epoch ms, what a claim compares)
    waiters        the concurrency wait lines: (key, workflow id) -> score, read by (key, score)

An instance's pending control requests (see ``liteflow.core.control_state``) are its row's ``control``
column, which only ``request_control`` sets and the persist applying them clears.

A file made by an older version is brought up to date on open (:data:`UPGRADES`).
"""

from __future__ import annotations

SCHEMA_VERSION = 2

#: Added at version 2: schedules and the concurrency wait lines.
_SCHEDULES: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS schedules (
        id TEXT PRIMARY KEY,
        next_run_ms INTEGER NOT NULL,
        doc BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS waiters (
        key TEXT NOT NULL,
        workflow_id TEXT NOT NULL,
        score REAL NOT NULL,
        PRIMARY KEY (key, workflow_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS waiters_by_score ON waiters (key, score, workflow_id)",
)

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS instances (
        id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL,
        status TEXT NOT NULL,
        definition_id TEXT NOT NULL,
        reference TEXT,
        create_time INTEGER NOT NULL,
        end_time INTEGER NOT NULL,
        next_execution INTEGER,
        pointer_count INTEGER NOT NULL,
        doc BLOB NOT NULL,
        control TEXT
    )""",
    # RUNNABLE instances only (next_execution is NULL otherwise)
    "CREATE INDEX IF NOT EXISTS instances_runnable ON instances (next_execution) WHERE next_execution IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS instances_purge ON instances (status, end_time)",
    "CREATE INDEX IF NOT EXISTS instances_created ON instances (create_time)",
    "CREATE INDEX IF NOT EXISTS instances_status ON instances (status, create_time)",
    "CREATE INDEX IF NOT EXISTS instances_definition ON instances (definition_id, create_time)",
    "CREATE INDEX IF NOT EXISTS instances_reference ON instances (reference, create_time)",
    """CREATE TABLE IF NOT EXISTS pointers (
        workflow_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        doc BLOB NOT NULL,
        PRIMARY KEY (workflow_id, position)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS subscriptions (
        id TEXT PRIMARY KEY,
        event_name TEXT NOT NULL,
        event_key TEXT NOT NULL,
        as_of INTEGER NOT NULL,
        doc BLOB NOT NULL,
        workflow_id TEXT
    )""",
    "CREATE INDEX IF NOT EXISTS subscriptions_by_key ON subscriptions (event_name, event_key, as_of)",
    "CREATE INDEX IF NOT EXISTS subscriptions_by_workflow ON subscriptions (workflow_id)",
    """CREATE TABLE IF NOT EXISTS events (
        id TEXT PRIMARY KEY,
        event_name TEXT NOT NULL,
        event_key TEXT NOT NULL,
        event_time INTEGER NOT NULL,
        processed INTEGER NOT NULL,
        doc BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS events_by_key ON events (event_name, event_key, event_time)",
    "CREATE INDEX IF NOT EXISTS events_by_state ON events (processed, event_time)",
    """CREATE TABLE IF NOT EXISTS errors (
        seq INTEGER PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        doc BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS errors_by_workflow ON errors (workflow_id)",
    # AUTOINCREMENT: a seq is never used twice, so a queue's highest seq changes with every id queued
    """CREATE TABLE IF NOT EXISTS queue (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        item_id TEXT NOT NULL,
        UNIQUE (kind, item_id)
    )""",
    "CREATE INDEX IF NOT EXISTS queue_order ON queue (kind, seq)",
    """CREATE TABLE IF NOT EXISTS doorbells (
        name TEXT PRIMARY KEY,
        pid INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS locks (
        resource TEXT PRIMARY KEY,
        token TEXT NOT NULL,
        expires REAL NOT NULL
    )""",
    *_SCHEDULES,
)

#: What brings a file made at version N - 1 to version N (run in one transaction, then N is recorded).
UPGRADES: dict[int, tuple[str, ...]] = {
    2: (
        "ALTER TABLE instances ADD COLUMN control TEXT",
        "ALTER TABLE subscriptions ADD COLUMN workflow_id TEXT",
        "UPDATE subscriptions SET workflow_id = json_extract(doc, '$.workflow_id')",
        "CREATE INDEX IF NOT EXISTS subscriptions_by_workflow ON subscriptions (workflow_id)",
        *_SCHEDULES,
    ),
}
