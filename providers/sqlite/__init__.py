"""SQLite providers: persistence, work queues and locks in one file, durable on one machine.

Standard library ``sqlite3`` only: nothing to install, nothing to run. Several processes on the machine
may share the file (WAL mode); a process killed at any moment loses nothing that was committed::

    from liteflow.providers.sqlite import SqliteLockProvider, SqlitePersistenceProvider, SqliteQueueProvider

    path = "liteflow.db"
    host = configure_workflow_host(
        persistence=SqlitePersistenceProvider(path),
        queue=SqliteQueueProvider(path),
        lock=SqliteLockProvider(path, lease=30.0),
    )

Each also takes a ``sqlite:///relative/path.db`` (or ``sqlite:////absolute/path.db``) URL for the path.
"""

from .database import sqlite_path
from .lock import SqliteLockProvider
from .persistence import SqlitePersistenceProvider
from .queue import SqliteQueueProvider

__all__ = ["SqliteLockProvider", "SqlitePersistenceProvider", "SqliteQueueProvider", "sqlite_path"]
