"""What one execution pass produced besides the changed instance."""

from __future__ import annotations

from dataclasses import dataclass, field

from liteflow.core.lifecycle import LifecycleEvent
from liteflow.core.models import EventSubscription, ExecutionError


@dataclass
class PassResult:
    #: Subscriptions made by steps that now wait for events (saved with the instance).
    subscriptions: list[EventSubscription] = field(default_factory=list)
    #: Subscription ids to end (their pointers were cancelled or terminated).
    ended_subscriptions: list[str] = field(default_factory=list)
    errors: list[ExecutionError] = field(default_factory=list)
    events: list[LifecycleEvent] = field(default_factory=list)
    steps_run: int = 0
    #: Ids of the pointers whose steps ran.
    ran: list[str] = field(default_factory=list)
