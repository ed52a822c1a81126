"""The check ``host.start()`` makes once: do the persistence, queue and lock answer?

Each provider with the :class:`~liteflow.core.interfaces.HealthCheck` ability is pinged on a thread of
its own, all at once, and waited for no longer than the timeout, whatever its driver does (a ping that
hangs is abandoned, not waited for). A provider without the ability is taken as it is.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from liteflow.core.errors import ProviderError
from liteflow.core.interfaces import HealthCheck

#: A ping is waited for a little longer than it was given, so that its own (more telling) error arrives.
_GRACE = 0.5


class _Ping:
    def __init__(self, role: str, provider: HealthCheck, timeout: float) -> None:
        self.role = role
        self.provider = provider
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(timeout,), name=f"liteflow-ping-{role}", daemon=True)

    def _run(self, timeout: float) -> None:
        try:
            self.provider.ping(timeout)
        except BaseException as exc:  # reported by the caller, whatever it is
            self.error = exc

    def where(self) -> str:
        try:
            return self.provider.describe()
        except Exception:
            return type(self.provider).__name__


def check_providers(providers: Sequence[tuple[str, object]], timeout: float) -> None:
    """Ping every ``(role, provider)`` that can be pinged (a provider serving several roles once);
    ProviderError naming each store that did not answer within ``timeout`` seconds."""
    pings: list[_Ping] = []
    seen: dict[int, _Ping] = {}
    for role, provider in providers:
        if not isinstance(provider, HealthCheck):
            continue
        if id(provider) in seen:
            seen[id(provider)].role += f" and {role}"
            continue
        ping = seen[id(provider)] = _Ping(role, provider, timeout)
        pings.append(ping)
    for ping in pings:
        ping.thread.start()
    deadline = time.monotonic() + timeout + _GRACE
    failures: list[str] = []
    cause: BaseException | None = None
    for ping in pings:
        ping.thread.join(max(0.0, deadline - time.monotonic()))
        if ping.thread.is_alive():
            failures.append(f"{ping.role} store {ping.where()} did not answer within {timeout:g}s")
        elif ping.error is not None:
            cause = cause or ping.error
            failures.append(f"{ping.role}: {ping.error}")
    if failures:
        raise ProviderError("host.start(): " + "; ".join(failures)) from cause
