"""Waiting for something that must happen, for the tests of every folder: ``from waiting import wait_until``
(``tests/`` is on ``sys.path``: see ``pythonpath`` in pyproject.toml)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

#: How long a test waits for something that must happen, unless it says otherwise.
WAIT = 5.0


def wait_until(check: Callable[[], Any], timeout: float = WAIT, interval: float = 0.01) -> Any:
    """Calls ``check`` every ``interval`` seconds until it returns something truthy, and returns that;
    AssertionError once ``timeout`` seconds have passed without."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g} s")
        time.sleep(interval)
