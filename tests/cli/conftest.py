"""Fixtures of the command-line tests: the environment of a ``liteflow`` process, a running worker."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from clirun import Worker


@pytest.fixture
def env(redis_url: str, redis_cleanup: str) -> dict[str, str]:
    values = dict(os.environ)
    values.update({"LITEFLOW_TEST_URL": redis_url, "LITEFLOW_TEST_PREFIX": redis_cleanup})
    for name in ("LITEFLOW_APP", "LITEFLOW_PERSISTENCE", "LITEFLOW_PREFIX", "LITEFLOW_QUEUE", "LITEFLOW_LOCK"):
        values.pop(name, None)
    return values


@pytest.fixture
def worker(env: dict[str, str]) -> Iterator[Worker]:
    started = Worker(env)
    try:
        started.wait_for_line("worker.ready")
        yield started
    finally:
        code = started.stop()
    assert code == 0, started.lines
