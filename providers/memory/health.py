"""The health check of the in-process providers: their store is this process, which always answers."""

from __future__ import annotations


class InProcessHealth:
    """:class:`~liteflow.core.interfaces.HealthCheck` for a provider whose store is this process's memory."""

    def describe(self) -> str:
        return "memory://"

    def ping(self, timeout: float) -> None:
        """Nothing to reach: in-process state always answers."""
