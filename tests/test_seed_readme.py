"""Every code example of the seed README (/work/shared/seeds/liteflow-readme.txt) runs unchanged.

Each snippet is copied verbatim below and executed with ``exec``; the tests then drive the workflows the
snippets define on the in-memory default and check what the steps printed and the workflow data.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from liteflow.core import *

SEED = Path("/work/shared/seeds/liteflow-readme.txt")
WAIT = 10.0

# ----------------------------------------------------------------------------------------------------
# The snippets, verbatim, in README order.
# ----------------------------------------------------------------------------------------------------
STEPS = r"""
from liteflow.core import *


class Hello(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        print("Hello world")
        
        
class Goodbye(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        print("Goodbye")
        return ExecutionResult.next()
"""  # noqa: W293 (verbatim: the README has whitespace-only lines)

CHAIN = r"""
class MyWorkflow(Workflow):

    def id(self):
        return "MyWorkflow"

    def version(self):
        return 1

    def build(self, builder: WorkflowBuilder):
        builder\
            .start_with(Hello)\
            .then(Goodbye)
"""

DATA = r"""
#Our workflow step with inputs and outputs
class AddNumbers(StepBody):
    def __init__(self):
        self.input1 = 0
        self.input2 = 0
        self.output = 0

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        self.output = self.input1 + self.input2
        return ExecutionResult.next()


#A class to hold workflow wide data
class MyData:
    def __init__(self):
        self.value1 = 0
        self.value2 = 0
        self.value3 = 0


#Our workflow definition with mapped inputs & outputs
class MyWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder):
        builder\
            .start_with(Hello)\
            .then(AddNumbers) \
                .input('input1', lambda data, context: data.value1) \
                .input('input2', lambda data, context: data.value2) \
                .output('value3', lambda step: step.output) \
            .then(Goodbye)
"""

EVENTS = r"""
class MyWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder):
        builder\
            .start_with(Hello) \
            .wait_for('event1', lambda data, context: 'key1') \
            .then(Goodbye)


#External events are published via the host
#All workflows that have subscribed to event1, key1, will be passed "hello"
host.publish_event('event1', 'key1', 'hello')

#Data from the published event can be captured and mapped to the workflow data object with an output on the WaitFor step
class MyWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder):
        builder\
            .start_with(Hello) \
            .wait_for('event1', lambda data, context: 'key1') \
                .output('captured_value', lambda step: step.event_data) \
            .then(Goodbye)
"""

FOREACH = r"""
class DoStuff(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        print(f"doing stuff...{context.execution_pointer.context_item}")
        return ExecutionResult.next()


class MyWorkflow(Workflow):

    def build(self, builder: WorkflowBuilder):
        builder\
            .start_with(Hello)\
            .for_each(lambda data, context: ["abc", "def", "xyz"])\
                .do(lambda x:\
                    x.start_with(DoStuff))\
            .then(Goodbye)
"""

WHILE = r"""
class MyWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder):
        builder\
            .start_with(Hello)\
            .while_(lambda data, context: data.value1 < 3)\
                .do(lambda do:\
                    do.start_with(DoStuff)\
                        .input('my_value', lambda data, context: data.value1)\
                        .output('value1', lambda step: step.your_value))\
            .then(Goodbye)
"""

IF = r"""
class MyWorkflow(Workflow):

    def build(self, builder: WorkflowBuilder):
        builder\
            .start_with(Hello)\
            .if_(lambda data, context: data.value1 > 3)\
                .do(lambda x:\
                    x.start_with(DoStuff))\
            .then(Goodbye)
"""

USAGE = r"""
from liteflow.core import *


host = configure_workflow_host()
host.register_workflow(MyWorkflow())
host.start()

wid = host.start_workflow("MyWorkflow", 1, None)
"""

SNIPPETS = {
    "steps": STEPS,
    "chain": CHAIN,
    "data": DATA,
    "events": EVENTS,
    "foreach": FOREACH,
    "while": WHILE,
    "if": IF,
    "usage": USAGE,
}

#: The README's ``DoStuff`` (for_each section) has no ``my_value``/``your_value``; the while section maps
#: them, so it runs with a ``DoStuff`` that has them (and prints like the README's).
WHILE_DO_STUFF = """
class DoStuff(StepBody):
    def __init__(self):
        self.my_value = 0
        self.your_value = 0

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        print(f"doing stuff...{self.my_value}")
        self.your_value = self.my_value + 1
        return ExecutionResult.next()
"""


def run_snippets(*names: str, namespace: dict[str, Any] | None = None, extra: str = "") -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "readme"} if namespace is None else namespace
    for name in names:
        source = extra if name == "extra" else SNIPPETS[name]
        exec(compile(source, f"<readme:{name}>", "exec"), ns)
    return ns


@pytest.fixture
def host() -> Iterator[WorkflowHost]:
    h = configure_workflow_host(poll_interval=0.1)
    yield h
    h.stop()


def start(host: WorkflowHost, workflow: Workflow, data: Any = None) -> str:
    host.register_workflow(workflow)
    host.start()
    return host.start_workflow(workflow.id(), workflow.version(), data)


def wait_until_waiting(host: WorkflowHost, wid: str) -> None:
    deadline = time.monotonic() + WAIT
    while not any(
        p.status is PointerStatus.WAITING_FOR_EVENT for p in host.get_workflow_instance(wid).execution_pointers
    ):
        assert time.monotonic() < deadline, "the workflow never waited for its event"
        time.sleep(0.01)


def printed(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


# ----------------------------------------------------------------------------------------------------
def test_snippets_are_verbatim_copies_of_the_seed() -> None:
    if not SEED.exists():
        pytest.skip(f"{SEED} is not here")
    text = SEED.read_text()
    for name, snippet in SNIPPETS.items():
        assert snippet.strip("\n") in text, f"snippet {name!r} differs from the README"


@pytest.mark.parametrize("definition", ["chain", "foreach"])
def test_usage(definition: str, capsys: pytest.CaptureFixture[str]) -> None:
    """``host = configure_workflow_host() ... wid = host.start_workflow("MyWorkflow", 1, None)``."""
    ns = run_snippets("steps", definition)
    try:
        run_snippets("usage", namespace=ns)
        host, wid = ns["host"], ns["wid"]
        assert isinstance(host, WorkflowHost) and isinstance(wid, str)
        instance = host.wait_for_workflow(wid, timeout=WAIT)
        assert instance.status is WorkflowStatus.COMPLETE
        assert instance.data is None
    finally:
        if "host" in ns:
            ns["host"].stop()
    lines = printed(capsys)
    assert lines[0] == "Hello world" and lines[-1] == "Goodbye"


def test_chain(host: WorkflowHost, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_snippets("steps", "chain")
    workflow = ns["MyWorkflow"]()
    assert (workflow.id(), workflow.version()) == ("MyWorkflow", 1)
    instance = host.wait_for_workflow(start(host, workflow), timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert printed(capsys) == ["Hello world", "Goodbye"]


def test_data(host: WorkflowHost, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_snippets("steps", "data")
    data = ns["MyData"]()
    data.value1, data.value2 = 2, 3
    instance = host.wait_for_workflow(start(host, ns["MyWorkflow"](), data), timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.value3 == 5
    assert printed(capsys) == ["Hello world", "Goodbye"]


def test_events_wait_for(host: WorkflowHost, capsys: pytest.CaptureFixture[str]) -> None:
    """The first workflow of the events section: waits for event1/key1, then says goodbye."""
    first_workflow = SNIPPETS["events"].split("\n\n\n#External", 1)[0]
    ns = run_snippets("steps")
    exec(compile(first_workflow, "<readme:events>", "exec"), ns)
    wid = start(host, ns["MyWorkflow"]())
    wait_until_waiting(host, wid)
    assert printed(capsys) == ["Hello world"]
    host.publish_event("event1", "key1", "hello")
    assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
    assert printed(capsys) == ["Goodbye"]


def test_events_whole_snippet_and_captured_value(host: WorkflowHost, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole events snippet (it publishes through ``host``), then its capturing workflow."""
    host.start()
    ns = run_snippets("steps", namespace={"__name__": "readme", "host": host})
    run_snippets("events", namespace=ns)  # publishes 'hello' while nobody waits: kept, not an error
    wid = start(host, ns["MyWorkflow"](), SimpleNamespace(captured_value=None))
    wait_until_waiting(host, wid)
    host.publish_event("event1", "key1", "hello")
    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.captured_value == "hello"
    assert printed(capsys) == ["Hello world", "Goodbye"]


def test_foreach(host: WorkflowHost, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_snippets("steps", "foreach")
    instance = host.wait_for_workflow(start(host, ns["MyWorkflow"]()), timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    lines = printed(capsys)
    assert lines[0] == "Hello world" and lines[-1] == "Goodbye"
    assert sorted(lines[1:-1]) == ["doing stuff...abc", "doing stuff...def", "doing stuff...xyz"]


def test_while(host: WorkflowHost, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_snippets("steps", "data", "extra", "while", extra=WHILE_DO_STUFF)
    instance = host.wait_for_workflow(start(host, ns["MyWorkflow"](), ns["MyData"]()), timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.value1 == 3
    assert printed(capsys) == ["Hello world", "doing stuff...0", "doing stuff...1", "doing stuff...2", "Goodbye"]


@pytest.mark.parametrize(("value1", "runs"), [(5, True), (3, False)])
def test_if(host: WorkflowHost, capsys: pytest.CaptureFixture[str], value1: int, runs: bool) -> None:
    ns = run_snippets("steps", "data", "foreach", "if")
    data = ns["MyData"]()
    data.value1 = value1
    instance = host.wait_for_workflow(start(host, ns["MyWorkflow"](), data), timeout=WAIT)
    assert instance.status is WorkflowStatus.COMPLETE
    expected = ["Hello world", "doing stuff...None", "Goodbye"] if runs else ["Hello world", "Goodbye"]
    assert printed(capsys) == expected
