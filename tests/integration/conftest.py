"""Fixtures of the integration tests: a Redis server of the test's own."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from own_redis import OwnRedis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A running :class:`OwnRedis` with its files in the test's ``tmp_path``; stopped afterwards. Skips
    when there is no ``redis-server`` on PATH."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on PATH")
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()
