"""Schedules: a workflow started on a calendar (``cron``) or at a fixed rate (``every``).

A schedule is stored by the persistence provider (so it survives restarts and every host sharing the
provider sees it) with the time it is next due. Started hosts start its instances (see
:mod:`liteflow.core.services.schedule_runner`): each due time is claimed with one compare-and-set on the
stored due time, so exactly one instance starts per due time however many hosts run; due times missed
while no host ran are started once (one catch-up), not once per missed time.

Cron expressions are read by ``cronsim`` (extra ``cron``), in the schedule's ``timezone`` (UTC by
default; daylight-saving changes as that library handles them).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from liteflow.core.models import UtcDatetime, utcnow

_SCHEDULE_IDS = uuid.UUID("5b0c7c1e-6f1d-4a55-9d7e-6a1f4d1c0b2a")


class Schedule(BaseModel):
    """A stored schedule. ``next_run_time`` is when its next instance is due (UTC)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    definition_id: str
    version: int | None = None
    cron: str | None = None
    #: The fixed interval of an ``every`` schedule.
    every: timedelta | None = None
    timezone: str = "UTC"
    #: The data each instance starts with (JSON).
    data: Any = None
    next_run_time: UtcDatetime
    create_time: UtcDatetime = Field(default_factory=utcnow)

    def due_after(self, moment: datetime) -> datetime:
        """The first due time strictly after ``moment`` (whole milliseconds, as every store keeps them)."""
        return _whole_ms(self._due_after(moment))

    def _due_after(self, moment: datetime) -> datetime:
        if self.every is not None:
            step = self.every.total_seconds()
            elapsed = (moment - self.create_time).total_seconds()
            periods = max(int(elapsed // step) + 1, 1)
            due = self.create_time + timedelta(seconds=periods * step)
            while due <= moment:  # float rounding
                due += self.every
            return due
        assert self.cron is not None
        return next_cron_time(self.cron, self.timezone, moment)

    def reference_for(self, due: datetime) -> str:
        """The reference of the instance started for ``due``: ``schedule:<id>:<ISO due time>``."""
        return f"schedule:{self.id}:{due.astimezone(timezone.utc).isoformat()}"

    def workflow_id_for(self, due: datetime) -> str:
        """The instance id for ``due``: the same on every host, so a due time starts one instance."""
        return str(uuid.uuid5(_SCHEDULE_IDS, self.reference_for(due)))


def _whole_ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _cronsim() -> Any:
    try:
        import cronsim
    except ImportError as exc:
        raise ImportError("cron schedules need cronsim: pip install 'liteflow-workflows[cron]'") from exc
    return cronsim


def _zone(name: str) -> Any:
    if name.upper() == "UTC":
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


def next_cron_time(expression: str, zone: str, moment: datetime) -> datetime:
    """The first time after ``moment`` that the cron ``expression`` names, read in ``zone``; UTC."""
    cronsim = _cronsim()
    local = moment.astimezone(_zone(zone)).replace(microsecond=0)
    try:
        it = cronsim.CronSim(expression, local)
    except cronsim.CronSimError as exc:
        raise ValueError(f"invalid cron expression {expression!r}: {exc}") from exc
    due: datetime = next(it)
    while due <= moment:
        due = next(it)
    return due.astimezone(timezone.utc)


def new_schedule(
    schedule_id: str,
    definition_id: str,
    cron: str | None,
    every: timedelta | None,
    data: Any,
    version: int | None,
    zone: str,
    now: datetime | None = None,
) -> Schedule:
    """A schedule checked for sense (one of ``cron`` / ``every``; a positive interval; a cron that parses)."""
    if not schedule_id or not isinstance(schedule_id, str):
        raise ValueError("a schedule needs an id (a non-empty string)")
    if (cron is None) == (every is None):
        raise ValueError("give a schedule exactly one of cron= or every=")
    if every is not None and every.total_seconds() <= 0:
        raise ValueError(f"every= must be a positive interval, got {every}")
    _zone(zone)
    now = _whole_ms(now or utcnow())
    schedule = Schedule(
        id=schedule_id,
        definition_id=definition_id,
        version=version,
        cron=cron,
        every=every,
        timezone=zone,
        data=data,
        next_run_time=now,
        create_time=now,
    )
    schedule.next_run_time = schedule.due_after(now)
    return schedule
