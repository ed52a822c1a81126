"""Visibility: ``list_workflows`` / ``count_workflows`` on every persistence provider (see conftest.py).

Newest ``create_time`` first (equal times: the larger id first), filters combined with AND,
``created_from <= create_time < created_to``, ``skip`` / ``take`` paging. Times are built at millisecond
precision (what BSON keeps), so what is read back compares equal.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from liteflow.core.models import WorkflowInstance, WorkflowStatus

BASE = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def make(
    persistence: Any,
    minute: int,
    definition: str = "Order",
    status: WorkflowStatus = WorkflowStatus.RUNNABLE,
    reference: str | None = None,
    **fields: Any,
) -> WorkflowInstance:
    created = BASE + timedelta(minutes=minute)
    values: dict[str, Any] = {
        "workflow_definition_id": definition,
        "version": 1,
        "create_time": created,
        "status": status,
        "reference": reference,
    }
    if status in (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED):
        values["complete_time"] = created + timedelta(seconds=5)
    values.update(fields)
    instance = WorkflowInstance(**values)
    persistence.create_workflow(instance)
    return instance


def ids(instances: list[WorkflowInstance]) -> list[str]:
    return [i.id for i in instances]


@pytest.fixture
def population(persistence: Any) -> dict[str, WorkflowInstance]:
    """Ten instances over two definitions, four statuses and three references, one a minute apart."""
    specs = [
        ("a0", "Order", WorkflowStatus.COMPLETE, "cust-1"),
        ("a1", "Order", WorkflowStatus.RUNNABLE, "cust-2"),
        ("a2", "Invoice", WorkflowStatus.COMPLETE, "cust-1"),
        ("a3", "Order", WorkflowStatus.SUSPENDED, None),
        ("a4", "Invoice", WorkflowStatus.RUNNABLE, "cust-3"),
        ("a5", "Order", WorkflowStatus.TERMINATED, "cust-1"),
        ("a6", "Order", WorkflowStatus.COMPLETE, "cust-2"),
        ("a7", "Invoice", WorkflowStatus.TERMINATED, None),
        ("a8", "Order", WorkflowStatus.RUNNABLE, "cust-1"),
        ("a9", "Invoice", WorkflowStatus.COMPLETE, "cust-2"),
    ]
    return {
        name: make(persistence, minute, definition, status, reference)
        for minute, (name, definition, status, reference) in enumerate(specs)
    }


def names(population: dict[str, WorkflowInstance], found: list[WorkflowInstance]) -> list[str]:
    by_id = {instance.id: name for name, instance in population.items()}
    return [by_id[i.id] for i in found]


def test_list_is_newest_first_and_returns_whole_instances(persistence: Any, population: dict[str, Any]) -> None:
    found = persistence.list_workflows()
    assert names(population, found) == [f"a{i}" for i in range(9, -1, -1)]
    first = found[0]
    assert first.workflow_definition_id == "Invoice" and first.status == WorkflowStatus.COMPLETE
    assert first.reference == "cust-2" and first.create_time == BASE + timedelta(minutes=9)
    assert persistence.count_workflows() == 10


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": WorkflowStatus.COMPLETE}, ["a9", "a6", "a2", "a0"]),
        ({"status": WorkflowStatus.SUSPENDED}, ["a3"]),
        ({"definition_id": "Invoice"}, ["a9", "a7", "a4", "a2"]),
        ({"reference": "cust-1"}, ["a8", "a5", "a2", "a0"]),
        ({"status": WorkflowStatus.COMPLETE, "definition_id": "Order"}, ["a6", "a0"]),
        ({"status": WorkflowStatus.RUNNABLE, "reference": "cust-1"}, ["a8"]),
        ({"definition_id": "Order", "reference": "cust-1"}, ["a8", "a5", "a0"]),
        ({"status": WorkflowStatus.COMPLETE, "definition_id": "Invoice", "reference": "cust-2"}, ["a9"]),
        ({"status": WorkflowStatus.TERMINATED, "definition_id": "Invoice", "reference": "cust-1"}, []),
        ({"definition_id": "Nothing"}, []),
        ({"reference": "nobody"}, []),
    ],
)
def test_filters_combine_with_and(
    persistence: Any, population: dict[str, Any], filters: dict[str, Any], expected: list[str]
) -> None:
    assert names(population, persistence.list_workflows(**filters)) == expected
    assert persistence.count_workflows(**filters) == len(expected)


def test_created_from_is_inclusive_and_created_to_exclusive(persistence: Any, population: dict[str, Any]) -> None:
    window = {"created_from": BASE + timedelta(minutes=2), "created_to": BASE + timedelta(minutes=6)}
    assert names(population, persistence.list_workflows(**window)) == ["a5", "a4", "a3", "a2"]
    assert persistence.count_workflows(**window) == 4
    both = {**window, "definition_id": "Order", "status": WorkflowStatus.TERMINATED}
    assert names(population, persistence.list_workflows(**both)) == ["a5"]
    assert persistence.count_workflows(**both) == 1
    only_to = {"created_to": BASE + timedelta(minutes=1), "reference": "cust-1"}
    assert names(population, persistence.list_workflows(**only_to)) == ["a0"]
    only_from = {"created_from": BASE + timedelta(minutes=8), "status": WorkflowStatus.RUNNABLE}
    assert names(population, persistence.list_workflows(**only_from)) == ["a8"]
    empty = {"created_from": BASE + timedelta(minutes=3), "created_to": BASE + timedelta(minutes=3)}
    assert persistence.list_workflows(**empty) == [] and persistence.count_workflows(**empty) == 0


@pytest.mark.parametrize(
    "filters", [{}, {"definition_id": "Order"}, {"status": WorkflowStatus.COMPLETE, "definition_id": "Order"}]
)
def test_skip_and_take_page_through(persistence: Any, population: dict[str, Any], filters: dict[str, Any]) -> None:
    everything = ids(persistence.list_workflows(**filters))
    pages = [ids(persistence.list_workflows(**filters, skip=skip, take=3)) for skip in range(0, 12, 3)]
    assert all(len(page) <= 3 for page in pages)
    assert [i for page in pages for i in page] == everything
    assert persistence.list_workflows(**filters, skip=len(everything)) == []
    assert persistence.list_workflows(**filters, take=0) == []
    with pytest.raises(ValueError):
        persistence.list_workflows(**filters, skip=-1)


def test_a_status_change_moves_the_instance(persistence: Any) -> None:
    first = make(persistence, 0)
    second = make(persistence, 1)
    first.status = WorkflowStatus.COMPLETE
    first.complete_time = BASE + timedelta(hours=1)
    persistence.persist_workflow(first)
    assert ids(persistence.list_workflows(status=WorkflowStatus.RUNNABLE)) == [second.id]
    assert ids(persistence.list_workflows(status=WorkflowStatus.COMPLETE)) == [first.id]
    assert persistence.count_workflows(status=WorkflowStatus.RUNNABLE) == 1
    assert ids(persistence.list_workflows(definition_id="Order")) == [second.id, first.id]
    second.status = WorkflowStatus.SUSPENDED
    persistence.persist_workflow(second)
    second.status = WorkflowStatus.RUNNABLE
    persistence.persist_workflow(second)
    assert ids(persistence.list_workflows(status=WorkflowStatus.RUNNABLE)) == [second.id]
    assert persistence.count_workflows(status=WorkflowStatus.SUSPENDED) == 0


def test_purged_instances_leave_every_index(persistence: Any, population: dict[str, Any]) -> None:
    assert persistence.purge_workflows(WorkflowStatus.COMPLETE, BASE + timedelta(days=1)) == 4
    assert names(population, persistence.list_workflows(definition_id="Invoice")) == ["a7", "a4"]
    assert names(population, persistence.list_workflows(reference="cust-1")) == ["a8", "a5"]
    assert persistence.list_workflows(status=WorkflowStatus.COMPLETE) == []
    assert persistence.count_workflows() == 6
    assert persistence.count_workflows(definition_id="Order", reference="cust-2") == 1


def test_equal_create_times_page_in_a_stable_order(persistence: Any) -> None:
    same = [make(persistence, 0, reference="same") for _ in range(7)]
    expected = sorted((i.id for i in same), reverse=True)
    assert ids(persistence.list_workflows(reference="same")) == expected
    pages = [ids(persistence.list_workflows(definition_id="Order", skip=s, take=2)) for s in range(0, 8, 2)]
    assert [i for page in pages for i in page] == expected


def test_paging_is_stable_while_instances_are_being_created(persistence: Any) -> None:
    """Pages read with a fixed ``created_to`` see every older instance exactly once, however many are
    created meanwhile (newer ones sort before them, but the bound keeps them out)."""
    older = [make(persistence, -60 + i, definition="Busy") for i in range(45)]
    bound = BASE
    stop = threading.Event()
    created: list[str] = []

    def create() -> None:
        minute = 0
        while not stop.is_set() and minute < 2000:
            created.append(make(persistence, minute, definition="Busy").id)
            minute += 1

    writer = threading.Thread(target=create)
    writer.start()
    try:
        seen: list[str] = []
        skip = 0
        while True:
            page = persistence.list_workflows(definition_id="Busy", created_to=bound, skip=skip, take=4)
            if not page:
                break
            seen += ids(page)
            skip += len(page)
    finally:
        stop.set()
        writer.join()
    assert seen == [i.id for i in reversed(older)]
    assert created, "nothing was created while paging"
    total = persistence.count_workflows(definition_id="Busy")
    assert total == len(older) + len(created)
    assert ids(persistence.list_workflows(definition_id="Busy", created_from=bound, take=5)) == created[::-1][:5]


def test_combined_filters_page_far_into_a_large_index(persistence: Any) -> None:
    """The smallest index of a combined query is walked in chunks (Redis: 500 ids a script step): pages
    far into it, across chunk boundaries, are what one sorted scan would give."""
    made = [
        make(persistence, i, definition="Big", status=WorkflowStatus.COMPLETE if i % 3 else WorkflowStatus.SUSPENDED)
        for i in range(1300)
    ]
    for i in range(0, 1300, 7):  # a second definition sharing the status index
        make(persistence, i, definition="Other", status=WorkflowStatus.COMPLETE)
    wanted = [i.id for i in reversed(made) if i.status is WorkflowStatus.COMPLETE]
    query = {"status": WorkflowStatus.COMPLETE, "definition_id": "Big"}
    assert persistence.count_workflows(**query) == len(wanted) == 866
    for skip in (0, 499, 500, 501, 860):
        assert ids(persistence.list_workflows(**query, skip=skip, take=10)) == wanted[skip : skip + 10]
    late = {**query, "created_from": BASE + timedelta(minutes=700)}
    assert persistence.count_workflows(**late) == sum(1 for i in made[700:] if i.status is WorkflowStatus.COMPLETE)
