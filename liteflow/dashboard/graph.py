"""A definition drawn as SVG: one box per step, nested in its containers, coloured by the step's state.

Steps are laid out top to bottom in definition order, indented by how deeply they are nested (the
children of a ``for_each``, ``if_``, ``parallel`` ... sit inside their container). Arrows join a step to
the steps its outcomes lead to. Everything drawn from user input (step names) is escaped.
"""

from __future__ import annotations

from html import escape

from liteflow.core.definition import WorkflowDefinition
from liteflow.core.models import PointerStatus, WorkflowInstance

_BOX_H, _GAP, _INDENT, _WIDTH, _LEFT = 28, 14, 28, 300, 40

#: Fill colours by the state of a step's latest pointer (CSS classes in static/style.css).
STATE_CLASSES = {
    None: "state-none",
    PointerStatus.PENDING: "state-pending",
    PointerStatus.RUNNING: "state-running",
    PointerStatus.COMPLETE: "state-complete",
    PointerStatus.SLEEPING: "state-sleeping",
    PointerStatus.WAITING_FOR_EVENT: "state-waiting",
    PointerStatus.FAILED: "state-failed",
    PointerStatus.COMPENSATED: "state-compensated",
    PointerStatus.CANCELLED: "state-cancelled",
}


def step_states(instance: WorkflowInstance | None) -> dict[int, PointerStatus]:
    """Each step's state: that of its latest pointer (the one created last)."""
    states: dict[int, PointerStatus] = {}
    if instance is not None:
        for pointer in instance.execution_pointers:
            states[pointer.step_id] = pointer.status
    return states


def _depths(definition: WorkflowDefinition) -> dict[int, int]:
    depth = {step.id: 0 for step in definition.steps}
    for step in definition.steps:  # children always come after their container
        for child in step.children:
            depth[child] = depth[step.id] + 1
    return depth


def definition_svg(definition: WorkflowDefinition, instance: WorkflowInstance | None = None) -> str:
    states = step_states(instance)
    depth = _depths(definition)
    top = {step.id: 10 + i * (_BOX_H + _GAP) for i, step in enumerate(definition.steps)}
    width = _LEFT + _WIDTH + _INDENT * (max(depth.values(), default=0) + 1)
    height = 20 + len(definition.steps) * (_BOX_H + _GAP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="definition-graph" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="definition {escape(definition.id)}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" class="edge-head"/></marker></defs>',
    ]
    for step in definition.steps:
        for outcome in step.outcomes:
            if outcome.next_step not in top:
                continue
            x = _LEFT + depth[step.id] * _INDENT - 14
            y1, y2 = top[step.id] + _BOX_H / 2, top[outcome.next_step] + _BOX_H / 2
            bend = x - 10 - 6 * (abs(outcome.next_step - step.id) % 3)
            x2 = _LEFT + depth[outcome.next_step] * _INDENT
            parts.append(f'<path class="edge" d="M {x + 14} {y1} H {bend} V {y2} H {x2}" marker-end="url(#arrow)"/>')
    for step in definition.steps:
        state = states.get(step.id)
        x, y = _LEFT + depth[step.id] * _INDENT, top[step.id]
        label = escape(step.display_name)
        status = "not reached" if state is None else state.name
        parts.append(
            f'<g class="step {STATE_CLASSES[state]}" data-step-id="{step.id}" data-state="{status}">'
            f"<title>{label}: {status}</title>"
            f'<rect x="{x}" y="{y}" rx="5" width="{_WIDTH}" height="{_BOX_H}"/>'
            f'<text x="{x + 10}" y="{y + 18}">{step.id}. {label}</text>'
            f'<text class="step-state" x="{x + _WIDTH - 8}" y="{y + 18}" text-anchor="end">{status}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
