"""Fixtures the scenario tests share (their helpers are in support.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support import LOG, make_host

from liteflow.core import WorkflowHost


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "host_options(**options): options for the scenario `host` fixture: started=True starts it, "
        "the rest go to configure_workflow_host (e.g. retry_interval)",
    )


@pytest.fixture
def host(request: pytest.FixtureRequest) -> Iterator[WorkflowHost]:
    """An in-memory host (poll 100 ms, retry after 50 ms), stopped afterwards; a module's
    ``pytest.mark.host_options(...)`` changes its options, and ``started=True`` starts it first."""
    marker = request.node.get_closest_marker("host_options")
    options = dict(marker.kwargs) if marker else {}
    started = options.pop("started", False)
    h = make_host(**options)
    if started:
        h.start()
    try:
        yield h
    finally:
        h.stop()


@pytest.fixture(autouse=True)
def _clear_log() -> None:
    """Every test starts with an empty shared step log."""
    LOG.clear()
