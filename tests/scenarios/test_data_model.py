"""One data model on every provider: the same data is stored equal, or refused with SerializationError
naming the attribute, at start_workflow / publish_event, on memory, Redis and MongoDB alike."""

from __future__ import annotations

import dataclasses
import math
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from support import MS, WAIT, define, rec

from liteflow.core import (
    ErrorBehavior,
    SerializationError,
    StepBody,
    StepExecutionContext,
    Workflow,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
)

pytestmark = pytest.mark.host_options(started=True)


@pytest.fixture
def a_socket() -> Iterator[socket.socket]:
    s = socket.socket()
    yield s
    s.close()


def unstorable(a_socket: socket.socket) -> list[tuple[str, Any, str]]:
    return [
        ("nan", math.nan, "NaN"),
        ("inf", math.inf, "inf"),
        ("set", {1, 2}, "set"),
        ("frozenset", frozenset({"a"}), "frozenset"),
        ("decimal", Decimal("1.10"), "Decimal"),
        ("int keys", {1: "one"}, "not a string"),
        ("lambda", lambda: 1, "function"),
        ("object", object(), "object"),
        ("socket", a_socket, "socket"),
        ("lock", threading.Lock(), "lock"),
    ]


class Nothing(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda c: None)


def test_unstorable_workflow_data_is_refused_at_start(host: WorkflowHost, a_socket: socket.socket) -> None:
    host.register_workflow(Nothing())
    for label, value, reason in unstorable(a_socket):
        with pytest.raises(SerializationError) as info:
            host.start_workflow("Nothing", None, {"order": {"lines": [1, value]}})
        assert "data.order.lines[1]" in str(info.value), label
        assert reason.lower() in str(info.value).lower(), label


def test_unstorable_event_data_is_refused_at_publish(host: WorkflowHost, a_socket: socket.socket) -> None:
    for label, value, _ in unstorable(a_socket):
        with pytest.raises(SerializationError, match=r"event_data\.payload") as info:
            host.publish_event("evt", "k", {"payload": value})
        assert info.value is not None, label


class Plain:
    def __init__(self) -> None:
        self.name = "p"
        self.items: list[Any] = []


def test_unstorable_attribute_of_a_plain_object_is_named(host: WorkflowHost) -> None:
    host.register_workflow(Nothing())
    data = Plain()
    data.items = [1, {2, 3}]
    with pytest.raises(SerializationError, match=r"data\.items\[1\]: a set"):
        host.start_workflow("Nothing", None, data)


STORABLE = {
    "text": "x",
    "n": 3,
    "f": 1.5,
    "flag": True,
    "none": None,
    "nested": {"list": [1, "a", None, {"k": [2.5]}]},
    "tuple": (1, 2),
    "when": datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc),
}
#: What every provider gives back for STORABLE: tuples as lists, datetimes as ISO text.
STORED = {**STORABLE, "tuple": [1, 2], "when": "2024-05-06T07:08:09Z"}


class Echo(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(lambda c: None)
            .wait_for("echo", lambda d, c: "k", effective_date=lambda d, c: c.workflow.create_time)
            .output(lambda step, data: data.update(received=step.event_data))
        )


def test_storable_values_come_back_the_same_on_every_provider(host: WorkflowHost) -> None:
    host.register_workflow(Echo())
    wid = host.start_workflow("Echo", None, dict(STORABLE))
    host.publish_event("echo", "k", dict(STORABLE))
    inst = host.wait_for_workflow(wid, timeout=WAIT)
    assert inst.status is WorkflowStatus.COMPLETE
    received = inst.data.pop("received")
    assert inst.data == STORED
    assert received == STORED


@dataclasses.dataclass
class Typed:
    amount: Decimal = Decimal("0")
    tags: set[str] = dataclasses.field(default_factory=set)
    when: datetime | None = None
    result: str = ""


class TypedModel(BaseModel):
    amount: Decimal = Decimal("0")
    tags: set[str] = set()
    when: datetime | None = None
    result: str = ""


def finish(context: StepExecutionContext) -> None:
    context.workflow.data.result = f"{context.workflow.data.amount + 1}"


@pytest.mark.parametrize("data_type", [Typed, TypedModel], ids=["dataclass", "pydantic"])
def test_declared_field_types_are_kept(host: WorkflowHost, data_type: type) -> None:
    class W(Workflow):
        def id(self) -> str:
            return "Typed"

        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(finish).then(lambda c: None)

    W.data_type = data_type
    host.register_workflow(W())
    when = datetime(2024, 1, 2, tzinfo=timezone.utc)
    wid = host.start_workflow("Typed", None, data_type(amount=Decimal("1.10"), tags={"a", "b"}, when=when))
    inst = host.wait_for_workflow(wid, timeout=WAIT)
    assert inst.status is WorkflowStatus.COMPLETE
    assert inst.data == data_type(amount=Decimal("1.10"), tags={"a", "b"}, when=when, result="2.10")


@dataclasses.dataclass
class Order:
    value: int = 0


class SetsValeu(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        return None


class Typo(Workflow):
    """No declared data_type (so registration cannot check the output): the data is a dataclass."""

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(SetsValeu).output("valeu", lambda step: 5).on_error(ErrorBehavior.TERMINATE)


def test_an_output_typo_on_a_dataclass_fails_the_step_on_every_provider(host: WorkflowHost) -> None:
    host.register_workflow(Typo())
    wid = host.start_workflow("Typo", None, Order())
    inst = host.wait_for_workflow(wid, timeout=WAIT)
    assert inst.status is WorkflowStatus.TERMINATED
    [error] = host.get_errors(wid)
    assert error.message.startswith("SerializationError: data.valeu")
    assert inst.data == Order(value=0)  # the pass that set it was not stored


def test_a_step_leaving_unstorable_data_fails_and_is_retried(host: WorkflowHost) -> None:
    log: list[str] = []

    def bad(context: Any) -> None:
        log.append("bad")
        context.workflow.data.items = [{1, 2}] if len(log) == 1 else [1, 2]

    define(host, lambda b: b.start_with(bad).on_error(ErrorBehavior.RETRY, 10 * MS).then(rec(log, "after")))
    wid = host.start_workflow("W", None, None)
    inst = host.wait_for_workflow(wid, timeout=WAIT)
    assert inst.status is WorkflowStatus.COMPLETE
    assert log == ["bad", "bad", "after"]
    [error] = host.get_errors(wid)
    assert "data.items[0]: a set" in error.message
    assert inst.data.items == [1, 2]


def test_unstorable_persistence_data_from_a_step_fails_it(host: WorkflowHost) -> None:
    from liteflow.core import ExecutionResult

    def keeps_a_lambda(context: Any) -> Any:
        if context.persistence_data is None:
            return ExecutionResult.persist({"callback": lambda: 1})
        return None

    define(host, lambda b: b.start_with(keeps_a_lambda).on_error(ErrorBehavior.TERMINATE))
    wid = host.start_workflow("W", None, None)
    assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.TERMINATED
    [error] = host.get_errors(wid)
    assert "persistence_data.callback" in error.message


# -- a dict given to a workflow with a data_type ----------------------------------------------------------
class PlainData:
    def __init__(self) -> None:
        self.amount = 0
        self.note = "none"


@pytest.mark.parametrize("data_type", [Typed, TypedModel, PlainData], ids=["dataclass", "pydantic", "plain"])
def test_a_dict_is_validated_into_the_data_type(host: WorkflowHost, data_type: type) -> None:
    seen: list[Any] = []

    class W(Workflow):
        def id(self) -> str:
            return "FromDict"

        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda c: seen.append(c.workflow.data))

    W.data_type = data_type
    host.register_workflow(W())
    wid = host.start_workflow("FromDict", None, {"amount": 7})
    inst = host.wait_for_workflow(wid, timeout=WAIT)
    assert inst.status is WorkflowStatus.COMPLETE
    assert isinstance(inst.data, data_type) and inst.data.amount == 7
    assert isinstance(seen[0], data_type) and seen[0].amount == 7


@pytest.mark.parametrize("data_type", [Typed, TypedModel, PlainData], ids=["dataclass", "pydantic", "plain"])
def test_a_dict_that_does_not_fit_names_the_field(host: WorkflowHost, data_type: type) -> None:
    class W(Workflow):
        def id(self) -> str:
            return "FromDict"

        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda c: None)

    W.data_type = data_type
    host.register_workflow(W())
    with pytest.raises(SerializationError, match=r"data\.amout.*did you mean 'amount'"):
        host.start_workflow("FromDict", None, {"amout": 7})


@pytest.mark.parametrize("data_type", [Typed, TypedModel], ids=["dataclass", "pydantic"])
def test_a_dict_with_a_wrong_value_names_the_field(host: WorkflowHost, data_type: type) -> None:
    class W(Workflow):
        def id(self) -> str:
            return "FromDict"

        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda c: None)

    W.data_type = data_type
    host.register_workflow(W())
    with pytest.raises(SerializationError, match=r"data\.when"):
        host.start_workflow("FromDict", None, {"when": "not a time"})
