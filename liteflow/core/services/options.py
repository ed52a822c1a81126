"""Host options: the keyword arguments ``configure_workflow_host`` accepts."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from liteflow.core.definition import ErrorBehavior


class HostOptions(BaseModel):
    """Tuning knobs of a host. An unknown name is a ``TypeError`` naming it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Seconds between polls for work that was missed (due sleepers, unprocessed events, lost queue items).
    poll_interval: float = Field(1.0, gt=0)
    #: Default wait before a failed step is retried.
    retry_interval: timedelta = timedelta(seconds=60)
    #: Default behaviour of a failing step outside sagas.
    default_error_behavior: ErrorBehavior = ErrorBehavior.RETRY
    #: Workflow instances executed at once (worker threads). Python runs one thread at a time, so more
    #: workers only help while steps wait (on I/O, or on Redis); past 4, no-op steps ran slower (more time
    #: handing the interpreter lock around). Raise it for steps that block on the network.
    max_concurrent_workflows: int = Field(4, ge=1)
    #: Threads matching published events to waiting workflows.
    event_workers: int = Field(4, ge=1)
    #: Most events a host takes off the queue at once and reads together (with the subscriptions waiting
    #: for them): a burst costs a few round trips, not a few per event. 1: one event at a time.
    event_batch: int = Field(16, ge=1)
    #: Longest a worker blocks on an empty queue before checking for stop (a queue provider that can be
    #: interrupted, as both built-in ones can, wakes its workers at once on ``stop()``).
    idle_wait: float = Field(0.5, gt=0)
    #: Execution passes one worker makes on an instance before re-queueing it (fairness between instances).
    max_passes: int = Field(256, ge=1)
    #: Longest ``stop()`` waits for in-flight steps to finish.
    stop_timeout: float = Field(30.0, gt=0)
    #: Seconds before an event whose workflow was busy is tried again.
    event_retry_delay: float = Field(0.02, gt=0)
    #: Longest ``start()`` waits for the persistence, queue and lock to answer its one check (it then
    #: raises ProviderError naming the store that did not).
    start_timeout: float = Field(5.0, gt=0)
    #: Processed events older than this are deleted by the started host (None: kept until
    #: ``purge_events``). Off by default: a wait whose as-of time is earlier than an event (e.g. as of the
    #: workflow's start) still receives it, so how far back to keep depends on the user's waits.
    event_retention: timedelta | None = Field(None, gt=timedelta(0))
    #: Seconds between two rounds of ``event_retention`` (each deletes at most 1,000 events).
    purge_interval: float = Field(60.0, gt=0)
    #: Longest a worker keeps trying to store a pass while the store is unreachable (holding its lock),
    #: before it gives the pass up (its steps then run again later).
    persist_retry_timeout: float = Field(60.0, ge=0)
    #: Seconds after a ``wait_for`` subscribed before its instance, still waiting, is due once more, for a
    #: second look at the events published before it subscribed: the first look, made right after the
    #: subscription was stored, is lost if the host dies in between or the store stays unreachable past
    #: ``persist_retry_timeout``. A wait its event ends sooner costs nothing; a longer one, one load, one
    #: read of its events and one write. On the order of the lock lease (30 s), so a dead holder's lock
    #: has lapsed by then.
    event_recheck_delay: float = Field(30.0, gt=0)

    @field_validator("retry_interval", "event_retention", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        return timedelta(seconds=value) if isinstance(value, (int, float)) else value


def parse_options(options: dict[str, object]) -> HostOptions:
    unknown = sorted(set(options) - set(HostOptions.model_fields))
    if unknown:
        known = ", ".join(sorted(HostOptions.model_fields))
        raise TypeError(f"unknown host option(s): {', '.join(unknown)} (known: {known})")
    try:
        return HostOptions(**options)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ValueError(f"invalid host options: {exc}") from exc
