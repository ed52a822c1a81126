"""What the README says about events holds: checked against the host, so the words cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from liteflow.core import *

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


class Waits(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None).wait_for("ready", lambda data, context: "k")


class WaitsSinceStart(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None).wait_for(
            "ready", lambda data, context: "k", effective_date=lambda data, context: context.workflow.create_time
        )


def _events_paragraph() -> str:
    start = README.index("An event matches waits")
    return " ".join(README[start : README.index("\n\n", start)].split())


def test_the_readme_does_not_promise_that_earlier_events_reach_every_later_wait() -> None:
    paragraph = _events_paragraph()
    assert "published before anyone waits is kept for later waits" not in paragraph
    assert re.search(r"published before the wait's pointer existed is \*\*not\*\* delivered", paragraph)


def test_an_event_published_before_the_wait_existed_reaches_only_a_wait_as_of_earlier() -> None:
    host = configure_workflow_host(poll_interval=0.1)
    host.register_workflow(Waits())
    host.register_workflow(WaitsSinceStart())
    default = host.start_workflow("Waits")  # not started yet: neither has reached its wait
    since_start = host.start_workflow("WaitsSinceStart")
    host.publish_event("ready", "k")  # after both started, before either wait's pointer exists
    with host:
        assert host.wait_for_workflow(since_start, timeout=10).status is WorkflowStatus.COMPLETE
        with pytest.raises(TimeoutError):  # the default as-of: it waits on, the event never delivered
            host.wait_for_workflow(default, timeout=0.5)
        pointers = host.get_workflow_instance(default).execution_pointers
        assert [p.status for p in pointers] == [PointerStatus.COMPLETE, PointerStatus.WAITING_FOR_EVENT]
