"""What every side's workloads share: sizes, the percentile, and the result line they print."""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

CHAINS = 200
CHAIN_STEPS = 10
WARM_RUNS = 3
W1_RUNS = 10
WAITERS = 50
SPACING = 0.05
DEADLINE = 120.0


def p50(values: Sequence[float]) -> float:
    return statistics.median(values)


def emit(system: str, results: dict[str, float]) -> None:
    """One JSON line on stdout: what the runner reads."""
    sys.stdout.write(json.dumps({"system": system, **results}) + "\n")
    sys.stdout.flush()


def wait_until(done: object, what: str, deadline: float = DEADLINE) -> None:
    """Block until ``done()`` is true; the peers have no call that blocks until N are waiting."""
    assert callable(done)
    end = time.monotonic() + deadline
    while not done():
        if time.monotonic() > end:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.01)


def wait_done(client: Any, key: str, count: int) -> dict[str, float]:
    """Read ``count`` ``[name, time.time()]`` completions off the Redis list ``key`` (BLPOP): name -> time."""
    seen: dict[str, float] = {}
    while len(seen) < count:
        item = client.blpop([key], timeout=DEADLINE)
        if item is None:
            raise TimeoutError(f"only {len(seen)} of {count} finished")
        name, at = json.loads(item[1])
        seen[name] = at
    return seen


def measure(chains: Callable[[int], float], events: Callable[[float], float]) -> dict[str, float]:
    """The four workloads, given how a side runs ``n`` chains (seconds taken) and 50 events ``spacing``
    seconds apart (p50 ms)."""
    for _ in range(WARM_RUNS):
        chains(1)
    w1 = p50([chains(1) * 1000 for _ in range(W1_RUNS)])
    w = CHAINS * CHAIN_STEPS / chains(CHAINS)
    return {"W": w, "W1": w1, "E": events(SPACING), "Eb": events(0.0)}
