"""The health check of the SQLite providers: the file opens and answers a read."""

from __future__ import annotations

import time

from liteflow.core.errors import ProviderError

from .database import Database


class FileHealth:
    """:class:`~liteflow.core.interfaces.HealthCheck` for a SQLite provider, which keeps its
    :class:`Database` as ``_db``."""

    _db: Database

    def describe(self) -> str:
        """The file as a URL (``sqlite:///relative.db``, ``sqlite:////absolute.db``)."""
        return f"sqlite:///{self._db.path}"

    def ping(self, timeout: float) -> None:
        """Read the file's schema version (a WAL reader waits for nobody); ProviderError naming the file
        if it cannot be read, or the read took longer than ``timeout`` seconds."""
        began = time.monotonic()
        try:
            self._db.query("ping", "PRAGMA user_version")
        except ProviderError as exc:
            raise ProviderError(f"SQLite file {self.describe()} did not answer: {exc}") from exc
        took = time.monotonic() - began
        if took > timeout:
            raise ProviderError(f"SQLite file {self.describe()} took {took:.1f} s to answer (more than {timeout} s)")
