"""Timers, percentiles, completion tracking through lifecycle events, and memory figures."""

from __future__ import annotations

import gc
import math
import resource
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from liteflow.core import WorkflowCompleted

now = time.perf_counter


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000.0


class Completions:
    """When each workflow (by its ``reference``) completed, as ``perf_counter()`` seconds.

    Fed by ``host.on_lifecycle_event`` (``WorkflowCompleted`` events of this process) and, with a second
    host process, by the completions that process reports. Waiters wake only when their goal is met, so
    tracking costs the workers one dict insert per completed workflow.
    """

    def __init__(self) -> None:
        self.done: dict[str, float] = {}
        self._cond = threading.Condition(threading.Lock())
        self._need_count: int | None = None
        self._need_ref: str | None = None

    def listen(self, host: Any) -> None:
        """Take ``host``'s ``WorkflowCompleted`` events (only those: the host then makes no step events)."""
        host.on_lifecycle_event(self.on_event, WorkflowCompleted)

    def on_event(self, event: Any) -> None:
        if isinstance(event, WorkflowCompleted):
            self.add(str(event.reference), now())

    def add(self, reference: str, at: float) -> None:
        with self._cond:
            if reference in self.done:
                return
            self.done[reference] = at
            if (self._need_count is not None and len(self.done) >= self._need_count) or reference == self._need_ref:
                self._cond.notify_all()

    def count(self) -> int:
        with self._cond:
            return len(self.done)

    def get(self, reference: str) -> float | None:
        with self._cond:
            return self.done.get(reference)

    def wait_count(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` workflows completed; False if ``timeout`` seconds passed first."""
        with self._cond:
            self._need_count = count
            try:
                return self._wait_until(lambda: len(self.done) >= count, timeout)
            finally:
                self._need_count = None

    def wait_ref(self, reference: str, timeout: float) -> bool:
        with self._cond:
            self._need_ref = reference
            try:
                return self._wait_until(lambda: reference in self.done, timeout)
            finally:
                self._need_ref = None

    def _wait_until(self, met: Callable[[], bool], timeout: float) -> bool:
        """With ``_cond`` held: wait (woken by ``add``) until ``met()``; False after ``timeout`` seconds."""
        deadline = now() + timeout
        while not met():
            remaining = deadline - now()
            if remaining <= 0:
                return False
            self._cond.wait(min(remaining, 1.0))
        return True


class GcTimer:
    """Time this process spends in the cyclic garbage collector while in the ``with`` block."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.collections = 0
        self._began: float | None = None

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._began = now()
        elif self._began is not None:
            self.seconds += now() - self._began
            self.collections += 1
            self._began = None

    def __enter__(self) -> GcTimer:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)


def _proc_status_kb(field: str) -> int | None:
    """A ``kB`` figure from /proc/self/status (Linux), e.g. VmHWM or VmRSS; None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss_kb() -> int:
    """This process's peak resident set size so far, in KiB.

    On Linux this is VmHWM, the high-water mark of this process's own memory map: ``ru_maxrss`` would
    also do in a process started directly, but it survives fork+exec, so a process started by a bigger
    parent reports the parent's size until it outgrows it. Elsewhere: ``ru_maxrss``.
    """
    hwm = _proc_status_kb("VmHWM")
    if hwm is not None:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def current_rss_kb() -> int | None:
    """This process's resident set size now, in KiB (Linux only; None elsewhere)."""
    return _proc_status_kb("VmRSS")


def reset_peak_rss() -> bool:
    """Reset the peak (VmHWM) to the current RSS (Linux >= 4.0); False if this system cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True
