"""The verbs that look: ``list``, ``show``, ``stats``, ``graph``."""

from __future__ import annotations

import click

from liteflow import documents
from liteflow.cli import render
from liteflow.cli.connect import Connection
from liteflow.cli.graph import FORMATS, draw
from liteflow.core.interfaces import QueueLengths, QueueType
from liteflow.core.models import WorkflowStatus

STATUS = click.Choice([status.name for status in WorkflowStatus], case_sensitive=False)


@click.command("list")
@click.option("--status", type=STATUS, help="Only instances in this status.")
@click.option("--definition", help="Only instances of this definition id.")
@click.option("--reference", help="Only instances with this reference.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="At most this many.")
@click.option("--skip", type=click.IntRange(min=0), default=0, help="Leave out the newest N first.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_obj
def list_(
    connection: Connection,
    status: str | None,
    definition: str | None,
    reference: str | None,
    limit: int,
    skip: int,
    as_json: bool,
) -> None:
    """Instances, newest first."""
    host = connection.host()
    found = host.list_workflows(status, definition, reference, skip=skip, take=limit)
    rows = [documents.summary(i) for i in found]
    if as_json:
        render.print_json(rows)
        return
    render.instances_table(rows, host.count_workflows(status, definition, reference) - skip)


@click.command()
@click.argument("workflow_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def show(connection: Connection, workflow_id: str, as_json: bool) -> None:
    """An instance: its data, its pointers as a timeline, and its errors with their tracebacks."""
    host = connection.host()
    instance = host.get_workflow_instance(workflow_id)
    definition = host.registry.find(instance.workflow_definition_id, instance.version)
    document = documents.detail(instance, definition, host.get_errors(workflow_id))
    if as_json:
        render.print_json(document)
    else:
        render.instance_detail(document)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_obj
def stats(connection: Connection, as_json: bool) -> None:
    """Instances by status, and queue lengths (when the queue provider can tell)."""
    host = connection.host()
    counts = {status.name: host.count_workflows(status=status) for status in WorkflowStatus}
    queues: dict[str, int | None] = {}
    for queue in QueueType:
        queues[queue.value] = host.queue.queue_length(queue) if isinstance(host.queue, QueueLengths) else None
    if as_json:
        render.print_json({"instances": {**counts, "total": sum(counts.values())}, "queues": queues})
    else:
        render.stats_table({**counts, "total": sum(counts.values())}, queues)


@click.command()
@click.argument("definition")
@click.option("--version", type=int, help="Default: the latest registered.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.pass_obj
def graph(connection: Connection, definition: str, version: int | None, fmt: str) -> None:
    """Draw a registered definition (needs --app): a text tree, Mermaid or Graphviz dot."""
    host = connection.host(needs_app="graph")
    click.echo(draw(host.registry.get(definition, version), fmt))


COMMANDS = (list_, show, stats, graph)
