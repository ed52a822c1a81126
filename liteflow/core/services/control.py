"""Changing an instance's status from outside (suspend, resume, terminate).

Only the holder of an instance's lock writes it, so a plain compare-and-set on the revision is all a
pass needs (it also fences a host whose lock lapsed: whoever took the lock over loaded a revision the
stale holder's write no longer matches, or the stale write landed first and the new holder's fails).
A status change therefore never competes with a pass:

* the caller takes the lock itself when nobody holds it, and applies the change (``apply_held``);
* otherwise it stores a *control request* beside the instance (``request_control``, one at a time).
  The holder's next ``persist_workflow`` is refused while the request is pending
  (:class:`ControlRequested`): the holder applies it to the pass it was storing (``fold``) and
  stores both in one write, which clears the request. A host that loads an instance with a request
  pending applies it before running any step. Meanwhile the caller waits (woken by this host's own
  workers, else looking again with a back-off) and takes the lock itself if the holder released it
  without having stored again.

A status change thus costs a step nothing: the step's result is stored with it. The pass it lands on
does not complete the workflow (a suspend or terminate asked for during the last step wins), and a pass
that terminated the workflow itself stays terminated.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from liteflow.core.control_state import mark_control, pending_control
from liteflow.core.engine.errors import fresh_retries
from liteflow.core.engine.outcome import PassResult
from liteflow.core.errors import ConcurrencyError, WorkflowNotFoundError
from liteflow.core.interfaces import QueueType
from liteflow.core.lifecycle import (
    LifecycleEvent,
    WorkflowCompleted,
    WorkflowResumed,
    WorkflowSuspended,
    WorkflowTerminated,
)
from liteflow.core.log import logger
from liteflow.core.models import WorkflowInstance, WorkflowStatus, new_id, to_millis, utcnow
from liteflow.core.primitives.sub_workflow import ends_child, prepare_announcement
from liteflow.core.services.runtime import Runtime

log = logger("control")

Change = Callable[[WorkflowInstance], bool]

#: How long a caller waits for the lock holder to apply its request before returning (the request
#: stays stored and is applied when the holder's current step returns).
GRACE = 0.1
#: How much longer it waits when the holder's last pass finished the instance (see ``change_status``).
FINISHED_WAIT = 5.0
_MOST_TRIES = 20


def suspend(instance: WorkflowInstance) -> bool:
    if instance.status is not WorkflowStatus.RUNNABLE:
        return False
    instance.status = WorkflowStatus.SUSPENDED
    return True


def resume(instance: WorkflowInstance) -> bool:
    if instance.status is not WorkflowStatus.SUSPENDED:
        return False
    instance.status = WorkflowStatus.RUNNABLE
    instance.next_execution = to_millis(utcnow())
    fresh_retries(instance)
    return True


def terminate(instance: WorkflowInstance) -> bool:
    if instance.status not in (WorkflowStatus.RUNNABLE, WorkflowStatus.SUSPENDED):
        return False
    instance.status = WorkflowStatus.TERMINATED
    instance.complete_time = utcnow()
    instance.next_execution = None
    return True


ACTIONS: dict[str, tuple[Change, type[LifecycleEvent]]] = {
    "suspend": (suspend, WorkflowSuspended),
    "resume": (resume, WorkflowResumed),
    "terminate": (terminate, WorkflowTerminated),
}


def new_request(action: str) -> str:
    """The stored form of a request: JSON (one line) with a fresh id, so no two requests are equal."""
    return json.dumps({"id": new_id(), "action": action}, separators=(",", ":"))


def requests_in(pending: str | None) -> list[str]:
    """The requests in a stored string of pending ones, oldest first (one per line)."""
    return pending.split("\n") if pending else []


def requests_after(applied: str | None, pending: str) -> str | None:
    """The requests in ``pending`` stored after the ``applied`` ones (requests are only ever appended
    until a write clears them all); None if ``pending`` does not start with ``applied``: they were
    cleared, so another holder stored the instance meanwhile."""
    if applied is None:
        return pending
    return pending[len(applied) + 1 :] if pending.startswith(f"{applied}\n") else None


def action_of(request: str) -> str | None:
    try:
        action = json.loads(request).get("action")
    except (ValueError, AttributeError):
        return None
    return action if action in ACTIONS else None


def fold(instance: WorkflowInstance, action: str | None, result: PassResult) -> bool:
    """Apply ``action`` to the lock holder's ``instance`` as it stands after the pass that made
    ``result`` (not stored yet; an empty result when there was no pass). A suspend or terminate lands
    before the pass's own completion of the workflow; a terminate ends every subscription. Adds the
    change's lifecycle event to ``result``; True if it changed the instance."""
    if action is None:
        log.warning("workflow.control_unknown", workflow_id=instance.id)
        return False
    change, event = ACTIONS[action]
    completed = [e for e in result.events if isinstance(e, WorkflowCompleted)]
    if action != "resume" and completed and instance.status is WorkflowStatus.COMPLETE:
        instance.status, instance.complete_time = WorkflowStatus.RUNNABLE, None
        result.events[:] = [e for e in result.events if not isinstance(e, WorkflowCompleted)]
    if not change(instance):
        return False
    if instance.status is WorkflowStatus.TERMINATED:
        result.subscriptions.clear()
        result.ended_subscriptions.extend(
            p.id for p in instance.execution_pointers if p.end_time is None and p.event_name is not None
        )
    result.events.append(event.of(instance))
    return True


def fold_pending(instance: WorkflowInstance, pending: str | None, result: PassResult) -> dict[str, bool]:
    """:func:`fold` every request in ``pending``, oldest first; whether each changed the instance."""
    return {request: fold(instance, action_of(request), result) for request in requests_in(pending)}


def applies(action: str, status: WorkflowStatus) -> bool:
    """Whether ``action`` changes an instance in ``status`` (False: finished, or already so)."""
    if action == "suspend":
        return status is WorkflowStatus.RUNNABLE
    if action == "resume":
        return status is WorkflowStatus.SUSPENDED
    return status in (WorkflowStatus.RUNNABLE, WorkflowStatus.SUSPENDED)


_AFTER = {
    "suspend": WorkflowStatus.SUSPENDED,
    "resume": WorkflowStatus.RUNNABLE,
    "terminate": WorkflowStatus.TERMINATED,
}


def status_after(status: WorkflowStatus, pending: str | None) -> WorkflowStatus:
    """The status an instance will have once the ``pending`` requests are applied (bar its current step)."""
    for request in requests_in(pending):
        action = action_of(request)
        if action is not None and applies(action, status):
            status = _AFTER[action]
    return status


def change_status(
    runtime: Runtime, follower: ControlFollower, workflow_id: str, action: str, grace: float = GRACE
) -> bool:
    """Suspend, resume or terminate; False only if the instance is finished or already in that state
    (counting the changes already requested and not yet applied).

    Applied at once when nobody holds the instance's lock. Otherwise the request is stored for the
    holder, who applies it when its current step returns: this waits ``grace`` seconds for that, then
    returns True, leaving the request to the holder (the instance is queued, and ``follower``
    takes the lock and applies it should the holder let go without having seen it). Unless the holder's
    last pass, stored before the request, finished the instance: then it waits for the lock (the holder
    lets go once it has announced that pass) and says False.
    """
    request = new_request(action)
    stored = False
    deadline = time.monotonic() + grace
    pause = 0.002
    while True:
        outcome, stored, finished = _attempt(runtime, workflow_id, action, request, stored)
        if outcome is not None:
            return outcome
        if stored and time.monotonic() >= (deadline + FINISHED_WAIT if finished else deadline):
            log.debug("workflow.control_deferred", workflow_id=workflow_id, action=action)
            runtime.queue.queue_work(workflow_id, QueueType.WORKFLOW)
            follower.follow(workflow_id, action, request)
            return True
        if stored:  # a finished instance's holder lets go once its last pass is announced: wait for it
            runtime.control_signal.wait(pause)
            pause = min(pause * 2, 0.05)


_FINISHED = (WorkflowStatus.COMPLETE, WorkflowStatus.TERMINATED)


def _attempt(
    runtime: Runtime, workflow_id: str, action: str, request: str, stored: bool
) -> tuple[bool | None, bool, bool]:
    """One try: (the outcome, or None while the lock holder has yet to apply it; whether it is stored;
    whether the stored instance has finished, so no pass of its holder will apply the request)."""
    persistence = runtime.persistence
    instance = persistence.get_workflow_instance(workflow_id)
    pending = pending_control(instance)
    if not stored and request in requests_in(pending):
        stored = True  # stored by a request sent again after its answer was lost
    if stored and request not in requests_in(pending):
        return True, True, False  # the lock holder applied it
    if not stored and not applies(action, status_after(instance.status, pending)):
        return False, False, False
    if runtime.lock.acquire_lock(workflow_id):
        try:
            return apply_held(runtime, workflow_id, action, request if stored else None), stored, False
        finally:
            runtime.lock.release_lock(workflow_id)
    if stored:
        return None, True, instance.status in _FINISHED
    requests = request if pending is None else f"{pending}\n{request}"
    if not persistence.request_control(workflow_id, pending, requests):
        return None, False, False  # other requests (or a lost answer's own) came first: look again
    return _attempt(runtime, workflow_id, action, request, True)  # the holder may have let go meanwhile


def apply_held(runtime: Runtime, workflow_id: str, action: str, stored: str | None) -> bool:
    """For a caller holding the instance's lock: apply the requests pending on it, then ``action``
    unless it is among them (``stored``); whether ``action`` changed the instance."""
    persistence = runtime.persistence
    for _ in range(_MOST_TRIES):
        try:
            instance = runtime.load_for_run(workflow_id)
        except WorkflowNotFoundError:
            return False
        pending = pending_control(instance)
        result = PassResult()
        before = instance.status
        outcome = fold_pending(instance, pending, result).get(stored or "")
        if outcome is None:
            outcome = True if stored is not None else fold(instance, action, result)
        if pending is None and not result.events:
            return outcome  # nothing to store
        if ends_child(instance, before):
            prepare_announcement(runtime, instance)  # before the end is stored (see sub_workflow)
        try:
            persistence.persist_workflow(instance, result.subscriptions, result.ended_subscriptions, pending)
        except ConcurrencyError:  # requests stored meanwhile (or a lapsed holder's last write): again
            continue
        mark_control(instance, None)
        runtime.follow_up.after_control(instance, result.events)
        return outcome
    raise ConcurrencyError(workflow_id, -1)


class ControlFollower:
    """Sees through the requests a host's callers left to a lock holder: should the holder release the
    lock without having stored again (so without seeing them), this takes the lock and applies them.
    One thread while there are any, looking again with a back-off (woken early by this host's workers)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._followed: dict[str, tuple[str, str]] = {}
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def follow(self, workflow_id: str, action: str, request: str) -> None:
        with self._mutex:
            self._followed[request] = (workflow_id, action)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="liteflow-control", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        pause = 0.01
        while True:
            with self._mutex:
                followed = list(self._followed.items())
                if not followed or self._closed:
                    self._thread = None
                    return
            for request, (workflow_id, action) in followed:
                try:
                    done = _attempt(self.runtime, workflow_id, action, request, True)[0] is not None
                except WorkflowNotFoundError:
                    done = True
                except Exception as exc:  # a provider away for a while: try again later
                    log.warning("workflow.control_follow_failed", workflow_id=workflow_id, error=str(exc))
                    done = False
                if done:
                    with self._mutex:
                        self._followed.pop(request, None)
            self.runtime.control_signal.wait(pause)
            pause = min(pause * 2, 1.0)

    def close(self) -> None:
        """Stop following (``host.close()``): requests still pending stay stored, and the next host that
        loads their instance applies them."""
        with self._mutex:
            self._closed = True
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            self.runtime.control_signal.applied()  # wakes it from its pause
            thread.join(timeout=5)
