"""The verbs of schedules: ``schedules`` (list them), ``schedule`` (add or replace one), ``unschedule``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from liteflow.cli import render
from liteflow.cli.actions import DurationParam, JsonParam
from liteflow.cli.connect import Connection, Failure
from liteflow.core.schedules import Schedule


def schedule_document(schedule: Schedule) -> dict[str, Any]:
    """What ``schedules --json`` prints for one schedule (``every`` in seconds, times in ISO 8601)."""
    return {
        "id": schedule.id,
        "definition_id": schedule.definition_id,
        "version": schedule.version,
        "cron": schedule.cron,
        "every": schedule.every.total_seconds() if schedule.every is not None else None,
        "timezone": schedule.timezone,
        "data": schedule.data,
        "next_run_time": schedule.next_run_time.isoformat(),
    }


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def schedules(connection: Connection, as_json: bool) -> None:
    """The stored schedules: id, definition, cron or interval, when each is next due."""
    rows = [schedule_document(s) for s in sorted(connection.host().list_schedules(), key=lambda s: s.id)]
    if as_json:
        render.print_json(rows)
    else:
        render.schedules_table(rows)


@click.command()
@click.argument("schedule_id", metavar="ID")
@click.argument("definition")
@click.option("--cron", metavar="EXPR", help="A cron expression, e.g. '0 2 * * *' (needs the cron extra).")
@click.option("--every", type=DurationParam(), help="A fixed interval: 30s, 5m, 1h30m, 1d.")
@click.option("--data", type=JsonParam(), help="The data each instance starts with, as JSON.")
@click.option("--version", type=int, help="Default: the latest registered when each instance starts.")
@click.option("--timezone", "zone", default="UTC", show_default=True, help="Where the cron expression is read.")
@click.pass_obj
def schedule(
    connection: Connection,
    schedule_id: str,
    definition: str,
    cron: str | None,
    every: timedelta | None,
    data: Any,
    version: int | None,
    zone: str,
) -> None:
    """Start DEFINITION on a calendar or at a fixed rate (needs --app); the same ID again replaces it."""
    if (cron is None) == (every is None):
        raise click.UsageError("give exactly one of --cron EXPR or --every DURATION")
    host = connection.host(needs_app="schedule")
    try:
        saved = host.schedule_workflow(
            schedule_id, definition, cron=cron, every=every, data=data, version=version, timezone=zone
        )
    except ValueError as exc:  # a cron expression that does not parse, an unknown timezone, an empty id
        raise click.BadParameter(str(exc)) from None
    click.echo(f"{saved.id} scheduled: next run {saved.next_run_time.isoformat()}")


@click.command()
@click.argument("schedule_id", metavar="ID")
@click.pass_obj
def unschedule(connection: Connection, schedule_id: str) -> None:
    """Remove a schedule (the instances it started go on); exit 1 if there was none."""
    if not connection.host().unschedule_workflow(schedule_id):
        raise Failure(f"no schedule {schedule_id!r}")
    click.echo(f"{schedule_id} unscheduled")


COMMANDS = (schedules, schedule, unschedule)
