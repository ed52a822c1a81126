"""Schedules and caller-chosen ids, on every provider (the scenario `host` fixture)."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from support import wait_until

from liteflow.core import (
    LiteFlowError,
    Schedule,
    Workflow,
    WorkflowAlreadyExistsError,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowNotRegisteredError,
    WorkflowStarted,
    WorkflowStatus,
)
from liteflow.core.schedules import next_cron_time


class Report(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda context: None)


def _scheduled(host: WorkflowHost, schedule_id: str) -> list[Any]:
    return [w for w in host.list_workflows(take=1000) if (w.reference or "").startswith(f"schedule:{schedule_id}:")]


def test_every_starts_one_instance_per_due_time(host: WorkflowHost) -> None:
    host.register_workflow(Report())
    schedule = host.schedule_workflow("fast", "Report", every=timedelta(milliseconds=200), data={"n": 1})
    assert isinstance(schedule, Schedule)
    host.start()
    wait_until(lambda: len(_scheduled(host, "fast")) >= 5, timeout=10)
    assert host.unschedule_workflow("fast")
    started = _scheduled(host, "fast")
    dues = sorted(datetime.fromisoformat(w.reference.split(":", 2)[2]) for w in started)
    assert len(dues) == len(set(dues)), "no due time twice"
    gaps = {round((b - a).total_seconds(), 3) for a, b in itertools.pairwise(dues)}
    assert gaps == {0.2}, gaps
    assert dues[0] == schedule.next_run_time
    assert all(w.data == {"n": 1} for w in started)
    for w in started:
        assert host.wait_for_workflow(w.id, timeout=10).status is WorkflowStatus.COMPLETE


def test_missed_due_times_start_once(host: WorkflowHost) -> None:
    host.register_workflow(Report())
    schedule = host.schedule_workflow("late", "Report", every=timedelta(seconds=1))
    # as if no host had run for ten periods
    schedule.next_run_time = schedule.next_run_time - timedelta(seconds=10)
    host.persistence.save_schedule(schedule)  # type: ignore[attr-defined]
    host.start()
    wait_until(lambda: len(_scheduled(host, "late")) == 1, timeout=10)
    wait_until(lambda: host.list_schedules()[0].next_run_time > datetime.now(timezone.utc), timeout=10)
    time.sleep(0.3)
    assert [w.reference for w in _scheduled(host, "late")] == [schedule.reference_for(schedule.next_run_time)]


def test_a_schedule_is_stored_and_listed_and_removed(host: WorkflowHost) -> None:
    host.register_workflow(Report())
    host.schedule_workflow("nightly-report", "Report", cron="0 2 * * *", timezone="Europe/Paris")
    host.schedule_workflow("often", "Report", every=timedelta(hours=1))
    listed = {s.id: s for s in host.list_schedules()}
    assert set(listed) == {"nightly-report", "often"}
    assert listed["nightly-report"].cron == "0 2 * * *" and listed["nightly-report"].definition_id == "Report"
    assert listed["often"].every == timedelta(hours=1)
    assert listed["nightly-report"].next_run_time.astimezone(timezone.utc).hour in (0, 1)  # 02:00 in Paris
    assert host.unschedule_workflow("often") is True
    assert host.unschedule_workflow("often") is False
    assert [s.id for s in host.list_schedules()] == ["nightly-report"]


def test_schedules_check_what_they_are_given(host: WorkflowHost) -> None:
    host.register_workflow(Report())
    with pytest.raises(WorkflowNotRegisteredError):
        host.schedule_workflow("x", "Nope", every=timedelta(seconds=1))
    with pytest.raises(ValueError, match="exactly one"):
        host.schedule_workflow("x", "Report", cron="* * * * *", every=timedelta(seconds=1))
    with pytest.raises(ValueError, match="exactly one"):
        host.schedule_workflow("x", "Report")
    with pytest.raises(ValueError, match="cron"):
        host.schedule_workflow("x", "Report", cron="61 * * * *")
    with pytest.raises(ValueError, match="positive"):
        host.schedule_workflow("x", "Report", every=timedelta(0))
    with pytest.raises(ValueError, match="timezone"):
        host.schedule_workflow("x", "Report", cron="0 2 * * *", timezone="Mars/Olympus")
    assert host.list_schedules() == []


def test_cron_times_follow_the_timezone() -> None:
    after = datetime(2024, 3, 30, 12, 0, tzinfo=timezone.utc)
    assert next_cron_time("0 2 * * *", "UTC", after) == datetime(2024, 3, 31, 2, 0, tzinfo=timezone.utc)
    # 03:00 in Paris is 01:00 UTC on the day summer time begins, 02:00 UTC the day before
    assert next_cron_time("0 3 * * *", "Europe/Paris", after) == datetime(2024, 3, 31, 1, 0, tzinfo=timezone.utc)
    assert next_cron_time("0 3 * * *", "Europe/Paris", after - timedelta(days=1)) == datetime(
        2024, 3, 30, 2, 0, tzinfo=timezone.utc
    )


def test_a_chosen_id_starts_once(host: WorkflowHost) -> None:
    host.register_workflow(Report())
    started: list[Any] = []
    host.on_lifecycle_event(started.append, WorkflowStarted)
    assert host.start_workflow("Report", workflow_id="order-42") == "order-42"
    with pytest.raises(WorkflowAlreadyExistsError, match="order-42"):
        host.start_workflow("Report", workflow_id="order-42")
    assert host.start_workflow("Report", workflow_id="order-42", if_exists="return") == "order-42"
    assert isinstance(WorkflowAlreadyExistsError("x"), LiteFlowError)
    assert len(started) == 1
    with pytest.raises(ValueError, match="if_exists"):
        host.start_workflow("Report", workflow_id="order-43", if_exists="replace")


def test_concurrent_starts_with_one_id_make_one_instance(host: WorkflowHost) -> None:
    host.register_workflow(Report())
    barrier = threading.Barrier(20)
    answers: list[str] = []
    refused: list[Exception] = []

    def start(i: int) -> None:
        barrier.wait()
        try:
            answers.append(host.start_workflow("Report", data={"i": i}, workflow_id="same"))
        except WorkflowAlreadyExistsError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=start, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["same"] and len(refused) == 19
    assert host.count_workflows() == 1
