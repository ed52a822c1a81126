"""Suspend, resume and terminate at random moments while workflows run their passes, on every provider.

Each workflow counts through a loop, one short step per iteration, appending the iteration to its
data; a controller per workflow suspends, resumes and (sometimes) terminates it at random moments
while other workflows run beside it. What must hold, whatever the timing:

* every call returns True unless the instance had finished (the controller is its only other actor,
  so suspend and resume always find it in the state they change), and each True takes effect: the
  instance gets that status, and no step runs while it is suspended or after it is terminated;
* no step result is lost and no step runs twice: the iterations stored are exactly the ones that ran,
  each once, in order; nothing is left pending once the instance has settled.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from support import WAIT, wait_until

from liteflow.core import StepBody, StepExecutionContext, Workflow, WorkflowBuilder, WorkflowHost, WorkflowStatus
from liteflow.core.control_state import pending_control

pytestmark = pytest.mark.host_options(max_concurrent_workflows=4)

ITERATIONS = 30
WORKFLOWS = 8
RUNS: Counter[tuple[str, int]] = Counter()
_RUNS_LOCK = threading.Lock()


@dataclass
class Count:
    i: int = 0
    done: list[int] = field(default_factory=list)


class Work(StepBody):
    def run(self, context: StepExecutionContext) -> None:
        data = context.workflow.data
        with _RUNS_LOCK:
            RUNS[(context.workflow.id, data.i)] += 1
        time.sleep(random.uniform(0, 0.004))  # a window for a status change to land during the step
        data.done.append(data.i)
        data.i += 1


class Counting(Workflow):
    data_type = Count

    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda c: None).while_(lambda d, c: d.i < ITERATIONS).do(lambda b: b.start_with(Work))


def runs_of(wid: str) -> int:
    with _RUNS_LOCK:
        return sum(n for (w, _), n in RUNS.items() if w == wid)


def status(host: WorkflowHost, wid: str) -> WorkflowStatus:
    return host.get_workflow_instance(wid).status


def settled_runs(host: WorkflowHost, wid: str, expected: WorkflowStatus) -> int:
    """Once ``wid`` has ``expected`` status: the step runs so far, checked not to grow for a moment."""
    wait_until(lambda: status(host, wid) is expected)
    runs = runs_of(wid)
    time.sleep(0.02)
    assert status(host, wid) is expected
    assert runs_of(wid) == runs, f"a step ran while {wid} was {expected.value}"
    return runs


def control(host: WorkflowHost, wid: str, rng: random.Random, failures: list[str]) -> None:
    try:
        for round_ in range(12):
            time.sleep(rng.uniform(0, 0.006))
            if round_ > 2 and rng.random() < 0.15:
                if host.terminate_workflow(wid):
                    settled_runs(host, wid, WorkflowStatus.TERMINATED)
                else:
                    assert status(host, wid) is WorkflowStatus.COMPLETE, "terminate refused a live workflow"
                return
            if not host.suspend_workflow(wid):
                assert status(host, wid) is WorkflowStatus.COMPLETE, "suspend refused a running workflow"
                return
            settled_runs(host, wid, WorkflowStatus.SUSPENDED)
            time.sleep(rng.uniform(0, 0.004))
            assert host.resume_workflow(wid) is True, "resume refused a suspended workflow"
            wait_until(lambda: status(host, wid) is not WorkflowStatus.SUSPENDED)
    except Exception as exc:  # reported by the test thread
        failures.append(f"{wid}: {type(exc).__name__}: {exc}")


def test_status_changes_at_random_moments_take_effect_and_cost_no_step(host: WorkflowHost) -> None:
    host.register_workflow(Counting())
    host.start()
    seed = random.randrange(1 << 30)
    failures: list[str] = []
    wids = [host.start_workflow("Counting") for _ in range(WORKFLOWS)]
    controllers = [
        threading.Thread(target=control, args=(host, wid, random.Random(seed + n), failures))
        for n, wid in enumerate(wids)
    ]
    for thread in controllers:
        thread.start()
    for thread in controllers:
        thread.join(60)
    assert not failures, f"seed {seed}: {failures}"

    for wid in wids:
        instance = host.wait_for_workflow(wid, timeout=WAIT * 2)
        assert instance.status in (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED)
        done = instance.data.done
        with _RUNS_LOCK:
            ran = {i: n for (w, i), n in RUNS.items() if w == wid}
        assert done == list(range(len(done))), f"seed {seed}: {wid} stored {done}"
        assert ran == dict.fromkeys(done, 1), f"seed {seed}: {wid} ran {ran}, stored {done}"
        if instance.status is WorkflowStatus.COMPLETE:
            assert len(done) == ITERATIONS
        assert pending_control(host.persistence.get_workflow_instance(wid)) is None


class WaitThenStep(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(lambda c: None).wait_for("go", lambda d, c: "k").then(Work)


def test_a_request_left_pending_by_a_caller_that_went_away_is_applied_by_the_next_host(host: WorkflowHost) -> None:
    """A caller may return (or die) leaving its request to a lock holder that let go without seeing it:
    the next host that takes the instance (here: for an event) applies it before anything else."""
    from liteflow.core.services import control

    host.register_workflow(WaitThenStep())
    host.start()
    wid = host.start_workflow("WaitThenStep", None, Count())
    wait_until(lambda: host.get_workflow_instance(wid).execution_pointers[-1].event_name == "go")
    assert host.persistence.request_control(wid, None, control.new_request("suspend"))

    host.publish_event("go", "k")
    settled_runs(host, wid, WorkflowStatus.SUSPENDED)
    assert runs_of(wid) == 0 and pending_control(host.persistence.get_workflow_instance(wid)) is None
    assert host.resume_workflow(wid) is True
    assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
    assert runs_of(wid) == 1


class Gated(StepBody):
    """Counts its runs and blocks until the test opens the gate (a status change lands meanwhile)."""

    entered = threading.Event()
    gate = threading.Event()

    def run(self, context: StepExecutionContext) -> None:
        with _RUNS_LOCK:
            RUNS[(context.workflow.id, 0)] += 1
        Gated.entered.set()
        Gated.gate.wait(WAIT)


class GatedThenDone(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Gated).then(lambda c: None)


def test_a_second_request_stored_while_the_holder_applies_the_first_costs_no_step(host: WorkflowHost) -> None:
    """A suspend lands during a step; the lock holder's store is refused and it folds the suspend in.
    A resume from another caller is stored just before it stores again: that store is refused too, and
    the holder must fold the resume in as well, not drop the pass (which made the step run twice)."""
    from liteflow.core.services import control

    Gated.entered.clear()
    Gated.gate.clear()
    persistence = host.persistence
    persist = persistence.persist_workflow
    injected: list[str] = []

    def persist_with_a_resume_in_between(instance, subscriptions=(), ended=(), control_applied=None):  # type: ignore[no-untyped-def]
        if control_applied is not None and not injected:  # the holder applies the suspend: a resume first
            injected.append(control_applied)
            assert persistence.request_control(
                instance.id, control_applied, f"{control_applied}\n{control.new_request('resume')}"
            )
        persist(instance, subscriptions, ended, control_applied)

    persistence.persist_workflow = persist_with_a_resume_in_between
    host.register_workflow(GatedThenDone())
    host.start()
    wid = host.start_workflow("GatedThenDone")
    assert Gated.entered.wait(WAIT)
    assert host.suspend_workflow(wid) is True  # deferred to the holder, whose step is still running
    Gated.gate.set()

    instance = host.wait_for_workflow(wid, timeout=WAIT)
    assert injected, "the holder never applied the suspend"
    assert instance.status is WorkflowStatus.COMPLETE
    assert runs_of(wid) == 1, "the step ran again: its pass was dropped"
    assert pending_control(persistence.get_workflow_instance(wid)) is None


class OneStep(Workflow):
    def build(self, builder: WorkflowBuilder) -> None:
        builder.start_with(Gated)


def test_a_suspend_stored_just_after_the_last_pass_returns_false(host: WorkflowHost) -> None:
    """The caller finds the instance RUNNABLE, but the holder stores its completing pass before the
    request lands, and still holds the lock (its "post" middleware runs). Nobody can apply the suspend
    to a pass any more: the call must say False (it said True, and the request stayed stored)."""
    Gated.entered.clear()
    Gated.gate.clear()
    in_post, post_gate = threading.Event(), threading.Event()

    def slow_post(instance: object) -> None:
        in_post.set()
        post_gate.wait(WAIT)

    persistence = host.persistence
    request_control = persistence.request_control

    def request_after_the_completing_pass(workflow_id: str, expected: str | None, requests: str) -> bool:
        Gated.gate.set()  # the step returns; its pass completes the workflow and is stored
        assert in_post.wait(WAIT)
        return bool(request_control(workflow_id, expected, requests))

    persistence.request_control = request_after_the_completing_pass
    host.add_workflow_middleware("post", slow_post)
    host.register_workflow(OneStep())
    host.start()
    wid = host.start_workflow("OneStep")
    assert Gated.entered.wait(WAIT)
    threading.Timer(0.5, post_gate.set).start()  # the holder lets go a while after the grace
    assert host.suspend_workflow(wid) is False
    assert host.wait_for_workflow(wid, timeout=WAIT).status is WorkflowStatus.COMPLETE
    assert pending_control(persistence.get_workflow_instance(wid)) is None


def test_close_stops_following_requests_left_to_a_holder() -> None:
    import threading
    import time

    from liteflow.core import Workflow, configure_workflow_host

    class One(Workflow):
        def build(self, builder: WorkflowBuilder) -> None:
            builder.start_with(lambda context: None)

    def following() -> bool:
        return any(t.name == "liteflow-control" and t.is_alive() for t in threading.enumerate())

    host = configure_workflow_host()
    host.register_workflow(One())
    workflow_id = host.start_workflow("One")  # never run: the host is not started
    assert host.lock.acquire_lock(workflow_id)  # "a worker" holds it: the request is left to it
    assert host.suspend_workflow(workflow_id) is True
    time.sleep(0.1)
    assert following()  # the follower waits to apply it should the holder let go without storing
    host.close()
    assert not following()
    host.control_follower.follow(workflow_id, "suspend", "request-2")  # after close: no thread starts
    assert not following()
    host.lock.release_lock(workflow_id)
