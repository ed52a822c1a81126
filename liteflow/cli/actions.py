"""The verbs that change things: ``start``, ``publish``, ``suspend`` / ``resume`` / ``terminate``, ``purge``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import click

from liteflow.cli.connect import Connection, Failure
from liteflow.cli.views import STATUS
from liteflow.core.models import utcnow
from liteflow.core.services.host import WorkflowHost
from liteflow.core.visibility import parse_status

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """``7d``, ``12h``, ``30m``, ``45s``, ``2w``, or several together (``1h30m``)."""
    compact = text.strip().lower().replace(" ", "")
    parts = _PART.findall(compact)
    if not parts or "".join(number + unit for number, unit in parts) != compact:
        raise ValueError(f"{text!r} is not a duration: use e.g. 7d, 12h, 30m, 45s or 1h30m")
    return sum((timedelta(**{_UNITS[unit]: float(number)}) for number, unit in parts), timedelta())


class JsonParam(click.ParamType):
    """A JSON document given on the command line; bad JSON is a usage error naming where it broke."""

    name = "JSON"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            self.fail(f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", param, ctx)


class DurationParam(click.ParamType):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


@click.command()
@click.argument("definition")
@click.option("--version", type=int, help="Default: the latest registered.")
@click.option("--data", type=JsonParam(), help="The workflow data, as JSON.")
@click.option("--reference", help="A reference of your own (an order number...).")
@click.pass_obj
def start(connection: Connection, definition: str, version: int | None, data: Any, reference: str | None) -> None:
    """Start an instance of a registered definition (needs --app); prints its id."""
    host = connection.host(needs_app="start")
    click.echo(host.start_workflow(definition, version, data, reference=reference))


@click.command()
@click.argument("name")
@click.argument("key")
@click.option("--data", type=JsonParam(), help="The event data, as JSON.")
@click.pass_obj
def publish(connection: Connection, name: str, key: str, data: Any) -> None:
    """Publish an event to the workflows waiting for (NAME, KEY); prints the event id."""
    click.echo(connection.host().publish_event(name, key, data))


def _control(verb: str, change: Callable[[WorkflowHost, str], bool], doing: str) -> click.Command:
    @click.command(verb)
    @click.argument("workflow_id", metavar="ID")
    @click.pass_obj
    def command(connection: Connection, workflow_id: str) -> None:
        host = connection.host()
        if not change(host, workflow_id):
            status = host.get_workflow_instance(workflow_id).status.name
            raise Failure(f"workflow {workflow_id} is {status}: nothing to {verb}")
        click.echo(f"{workflow_id} {doing}")

    command.help = f"{verb.capitalize()} an instance (exit 1 if it is unknown or cannot be {doing})."
    return command


suspend = _control("suspend", WorkflowHost.suspend_workflow, "suspended")
resume = _control("resume", WorkflowHost.resume_workflow, "resumed")
terminate = _control("terminate", WorkflowHost.terminate_workflow, "terminated")


@click.command()
@click.option("--status", type=STATUS, required=True, help="Purge instances in this status.")
@click.option("--older-than", type=DurationParam(), required=True, help="Finished (or created) before: 7d, 12h, 30m.")
@click.pass_obj
def purge(connection: Connection, status: str, older_than: timedelta) -> None:
    """Delete instances in a status that finished before a time; prints how many."""
    chosen = parse_status(status)
    assert chosen is not None
    click.echo(connection.host().purge_workflows(chosen, utcnow() - older_than))


COMMANDS = (start, publish, suspend, resume, terminate, purge)
