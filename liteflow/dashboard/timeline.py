"""An instance's execution pointers drawn as a timeline (SVG): one row per pointer, a bar from when it
started to when it ended (or now), coloured by its state, with the time it slept or waited for an event
hatched, and its retries written beside it."""

from __future__ import annotations

from datetime import datetime
from html import escape

from liteflow.core.definition import WorkflowDefinition
from liteflow.core.models import PointerStatus, WorkflowInstance, utcnow
from liteflow.documents import step_name

from .graph import STATE_CLASSES

_ROW, _LABEL, _WIDTH = 24, 220, 560


def _span(instance: WorkflowInstance, now: datetime) -> tuple[datetime, float]:
    start = instance.create_time
    ends = [start]
    for p in instance.execution_pointers:
        ends += [t for t in (p.start_time, p.end_time, p.sleep_until) if t is not None]
    end = max(ends) if instance.complete_time is not None else max([*ends, now])
    return start, max((end - start).total_seconds(), 0.001)


def timeline_svg(instance: WorkflowInstance, definition: WorkflowDefinition | None, now: datetime | None = None) -> str:
    """The timeline of ``instance``, its rows named as ``liteflow.documents.step_name`` names them."""
    now = now or utcnow()
    start, seconds = _span(instance, now)
    pointers = instance.execution_pointers

    def x(at: datetime) -> float:
        return _LABEL + min(max((at - start).total_seconds() / seconds, 0.0), 1.0) * _WIDTH

    height = 30 + len(pointers) * _ROW
    width = _LABEL + _WIDTH + 120
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="timeline">',
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" class="hatch"/></pattern></defs>',
        f'<text class="axis" x="{_LABEL}" y="{height - 6}">0 s</text>',
        f'<text class="axis" x="{_LABEL + _WIDTH}" y="{height - 6}" text-anchor="end">{seconds:.3f} s</text>',
    ]
    for row, pointer in enumerate(pointers):
        y = 6 + row * _ROW
        name = escape(step_name(pointer, definition))
        parts.append(f'<g class="pointer" data-pointer-id="{escape(pointer.id)}" data-state="{pointer.status.name}">')
        parts.append(f'<text x="4" y="{y + 14}">{name}</text>')
        if pointer.start_time is not None:
            begin = x(pointer.start_time)
            end = x(pointer.end_time or now)
            parts.append(
                f'<rect class="bar {STATE_CLASSES[pointer.status]}" x="{begin:.1f}" y="{y}" '
                f'width="{max(end - begin, 2):.1f}" height="{_ROW - 8}" rx="3"/>'
            )
            idle_from = None
            if pointer.status in (PointerStatus.SLEEPING, PointerStatus.WAITING_FOR_EVENT):
                idle_from = pointer.start_time
            if idle_from is not None:
                until = pointer.sleep_until if pointer.sleep_until is not None else now
                a, b = x(idle_from), x(max(until, idle_from))
                parts.append(
                    f'<rect class="idle" x="{a:.1f}" y="{y}" width="{max(b - a, 2):.1f}" height="{_ROW - 8}" '
                    'fill="url(#hatch)"/>'
                )
        duration = ""
        if pointer.start_time is not None and pointer.end_time is not None:
            duration = f"{(pointer.end_time - pointer.start_time).total_seconds() * 1000:.1f} ms"
        retries = f" · {pointer.retry_count} retries" if pointer.retry_count else ""
        parts.append(
            f'<text class="note" x="{_LABEL + _WIDTH + 6}" y="{y + 14}">{pointer.status.name.lower()} '
            f"{duration}{retries}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
