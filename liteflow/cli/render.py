"""What the verbs print for people (``--json`` prints :mod:`liteflow.documents` instead): rich tables,
and an instance's pointers as a timeline."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {
    "RUNNABLE": "cyan",
    "SUSPENDED": "yellow",
    "COMPLETE": "green",
    "TERMINATED": "red",
    "FAILED": "red",
    "WAITING_FOR_EVENT": "magenta",
    "SLEEPING": "blue",
}


class _Out:
    """Prints renderables to stdout without the trailing blanks rich pads table rows with."""

    def __init__(self) -> None:
        # a fixed width when piped, so redirected output stays one row per line
        self._console = Console(width=None if sys.stdout.isatty() else 160, highlight=False)

    def print(self, *renderables: Any) -> None:
        with self._console.capture() as captured:
            self._console.print(*renderables)
        sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def console() -> _Out:
    return _Out()


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def _status(name: str) -> Text:
    return Text(name, style=STATUS_STYLE.get(name, ""))


def short_time(value: str | None) -> str:
    if value is None:
        return "-"
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{rest:02d}s" if hours else f"{minutes}m{rest:02d}s"


def instances_table(rows: Sequence[Mapping[str, Any]], total: int | None = None) -> None:
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "DEFINITION", "VER", "STATUS", "REFERENCE", "CREATED", "COMPLETED"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(
            row["id"],
            row["definition_id"],
            str(row["version"]),
            _status(row["status"]),
            row["reference"] or "-",
            short_time(row["create_time"]),
            short_time(row["complete_time"]),
        )
    out = console()
    out.print(table)
    if total is not None and total > len(rows):
        out.print(f"{len(rows)} of {total} shown (--limit to see more)")


def instance_detail(document: Mapping[str, Any]) -> None:
    out = console()
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("id", document["id"])
    head.add_row("definition", f"{document['definition_id']} v{document['version']}")
    head.add_row("status", _status(document["status"]))
    head.add_row("reference", document["reference"] or "-")
    head.add_row("created", document["create_time"] or "-")
    head.add_row("completed", document["complete_time"] or "-")
    head.add_row("data", json.dumps(document["data"], default=str))
    out.print(head)
    out.print()
    out.print(timeline(document["pointers"], document["create_time"]))
    for error in document["errors"]:
        out.print()
        out.print(Text(f"error at {error['error_time']}: {error['message']}", style="red"))
        if error.get("details"):
            out.print(Text(error["details"].rstrip()))


def timeline(pointers: Sequence[Mapping[str, Any]], created: str | None) -> Table:
    """One row per pointer in the order they ran: offset from the instance's start, step, status,
    duration, retries, and what it waits for."""
    start = datetime.fromisoformat(created) if created else None
    table = Table(box=None, pad_edge=False, title="timeline", title_justify="left")
    for column in ("AT", "STEP", "STATUS", "DURATION", "RETRIES", "WAITING FOR"):
        table.add_column(column, no_wrap=True)
    for pointer in pointers:
        at = "-"
        if start is not None and pointer["start_time"]:
            at = "+" + duration((datetime.fromisoformat(pointer["start_time"]) - start).total_seconds())
        waits = "-"
        if pointer["event_name"] and pointer["status"] == "WAITING_FOR_EVENT":
            waits = f"event {pointer['event_name']}/{pointer['event_key']}"
        elif pointer["sleep_until"] and pointer["end_time"] is None:
            waits = f"until {short_time(pointer['sleep_until'])}"
        table.add_row(
            at,
            f"#{pointer['step_id']} {pointer['step_name']}",
            _status(pointer["status"]),
            duration(pointer["duration"]),
            str(pointer["retry_count"]),
            waits,
        )
    return table


def stats_table(counts: Mapping[str, int], queues: Mapping[str, int | None]) -> None:
    table = Table(box=None, pad_edge=False)
    table.add_column("INSTANCES", no_wrap=True)
    table.add_column("COUNT", justify="right")
    for name, count in counts.items():
        table.add_row(_status(name), str(count))
    out = console()
    out.print(table)
    out.print()
    queue_table = Table(box=None, pad_edge=False)
    queue_table.add_column("QUEUE", no_wrap=True)
    queue_table.add_column("LENGTH", justify="right")
    for name, length in queues.items():
        queue_table.add_row(name, "n/a" if length is None else str(length))
    out.print(queue_table)


def schedules_table(rows: Sequence[Mapping[str, Any]]) -> None:
    table = Table(box=None, pad_edge=False)
    for column in ("ID", "DEFINITION", "WHEN", "TIMEZONE", "NEXT RUN"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        when = f"cron {row['cron']}" if row["cron"] else f"every {duration(row['every'])}"
        table.add_row(row["id"], row["definition_id"], when, row["timezone"], short_time(row["next_run_time"]))
    out = console()
    out.print(table)
    if not rows:
        out.print("no schedules")
