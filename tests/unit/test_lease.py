"""LeaseRenewer: renews what is held; a failed renewal forgets only the hold it was made for."""

from __future__ import annotations

import threading
import time

from liteflow.core.lease import LeaseRenewer


def test_a_lock_released_and_taken_again_during_a_failed_renewal_stays_held() -> None:
    calls: list[str] = []
    renewed_again = threading.Event()
    renewer: LeaseRenewer

    def renew(resource_id: str) -> bool:
        calls.append(resource_id)
        if len(calls) == 1:  # the first renewal fails, because meanwhile the lock was released ...
            renewer.forget(resource_id)
            renewer.hold(resource_id)  # ... and taken again: a new hold, which this failure must not drop
            return False
        renewed_again.set()
        return True

    renewer = LeaseRenewer(0.03, renew)
    renewer.hold("r")
    assert renewed_again.wait(2), "the new hold was not renewed"
    assert "r" in renewer.held()
    renewer.stop()


def test_a_lock_lost_is_forgotten_and_no_longer_renewed() -> None:
    calls: list[str] = []
    renewer = LeaseRenewer(0.03, lambda resource_id: calls.append(resource_id) or False)
    renewer.hold("r")
    deadline = time.monotonic() + 2
    while "r" in renewer.held() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "r" not in renewer.held()
    seen = len(calls)
    time.sleep(0.05)
    assert len(calls) == seen == 1
    renewer.stop()
