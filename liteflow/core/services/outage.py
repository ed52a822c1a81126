"""Riding out a store outage: a write of a pass, tried again while the store is unreachable.

A worker whose persist fails with :class:`~liteflow.core.errors.ProviderError` (the store restarting, a
network blip) keeps its lock (the lease renewer sets it again with the same token once the store answers,
should the store have lost it) and sends the same write again, so the step it ran is not run a second
time. A write sent again after its answer was lost is safe: the Redis provider recognises its own write
token and answers as if the first had been acknowledged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from liteflow.core.errors import ProviderError
from liteflow.core.log import logger
from liteflow.core.services.runtime import Runtime

log = logger("outage")
T = TypeVar("T")

#: Waits between attempts: 50 ms, doubling up to this (work resumes within it of the store answering).
_FIRST_WAIT = 0.05
_MOST_WAIT = 0.5


def through_outage(runtime: Runtime, action: str, call: Callable[[], T], workflow_id: str) -> T:
    """``call()``, tried again on ProviderError for up to ``runtime.options.persist_retry_timeout`` seconds;
    then (or once the host is stopping: the step runs again later) the last error is raised."""
    try:
        return call()
    except ProviderError as exc:
        return ride_out(runtime, action, call, workflow_id, exc)


def ride_out(runtime: Runtime, action: str, call: Callable[[], T], workflow_id: str, error: ProviderError) -> T:
    """:func:`through_outage` once the first ``call()`` has failed with ``error``: a caller on the hot path
    makes the first attempt itself (a plain call in a ``try``) and builds ``call`` only when it failed."""
    now = time.monotonic()
    deadline = now + runtime.options.persist_retry_timeout
    log.warning("store.unreachable", action=action, workflow_id=workflow_id, error=str(error))
    wait = _FIRST_WAIT
    while True:
        if now >= deadline or runtime.stopping:
            log.error("store.gave_up", action=action, workflow_id=workflow_id, error=str(error))
            raise error
        runtime.stop_event.wait(min(wait, deadline - now))
        wait = min(wait * 2, _MOST_WAIT)
        try:
            return call()
        except ProviderError as exc:
            error = exc
            now = time.monotonic()
