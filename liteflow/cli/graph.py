"""A workflow definition drawn as text (an indented tree), Mermaid or Graphviz dot.

Nodes are steps (``#id name``); edges are what runs next (labelled with the outcome value when there is
one) and, dashed, the first step of each branch of a container (``for_each``, ``if_``, ``parallel``...)
and a step's compensation.
"""

from __future__ import annotations

import json

from liteflow.core.definition import ANY_OUTCOME, WorkflowDefinition, WorkflowStep

FORMATS = ("text", "mermaid", "dot")


def _edges(definition: WorkflowDefinition) -> list[tuple[int, int, str, str]]:
    """(from, to, label, kind) with kind "next", "branch" or "compensate"."""
    edges = []
    for step in definition.steps:
        for outcome in step.outcomes:
            label = "" if outcome.value is ANY_OUTCOME else repr(outcome.value)
            edges.append((step.id, outcome.next_step, label, "next"))
        for child in step.children:
            edges.append((step.id, child, "", "branch"))
        if step.compensation_step_id is not None:
            edges.append((step.id, step.compensation_step_id, "compensate", "compensate"))
    return edges


def _label(step: WorkflowStep) -> str:
    return f"#{step.id} {step.display_name}"


def _roots(definition: WorkflowDefinition) -> list[int]:
    targets = {to for _, to, _, _ in _edges(definition)}
    return [step.id for step in definition.steps if step.id not in targets] or [0]


def as_text(definition: WorkflowDefinition) -> str:
    """An indented tree: ``->`` for what runs next, ``=>`` for a branch's first step, ``~>`` for a
    compensation; a step reached again is shown once more by name only (``(see above)``)."""
    by_source: dict[int, list[tuple[int, str, str]]] = {}
    for source, target, label, kind in _edges(definition):
        by_source.setdefault(source, []).append((target, label, kind))
    lines = [f"{definition.id} v{definition.version}"]
    seen: set[int] = set()
    arrows = {"next": "->", "branch": "=>", "compensate": "~>"}

    def draw(step_id: int, depth: int, arrow: str, label: str) -> None:
        step = definition.steps[step_id]
        when = f" [{label}]" if label and label != "compensate" else ""
        again = " (see above)" if step_id in seen else ""
        lines.append(f"{'  ' * depth}{arrow} {_label(step)}{when}{again}")
        if again:
            return
        seen.add(step_id)
        for target, edge_label, kind in by_source.get(step_id, []):
            draw(target, depth + 1, arrows[kind], edge_label)

    for root in _roots(definition):
        draw(root, 1, "*", "")
    return "\n".join(lines)


def as_mermaid(definition: WorkflowDefinition) -> str:
    lines = ["flowchart TD"]
    for step in definition.steps:
        lines.append(f"    s{step.id}[{json.dumps(_label(step))}]")
    for source, target, label, kind in _edges(definition):
        arrow = "-->" if kind == "next" else "-.->"
        text = label if kind != "branch" else "branch"
        lines.append(f"    s{source} {arrow}{f'|{json.dumps(text)}|' if text else ''} s{target}")
    return "\n".join(lines)


def as_dot(definition: WorkflowDefinition) -> str:
    lines = [f"digraph {json.dumps(f'{definition.id} v{definition.version}')} {{", "    node [shape=box];"]
    for step in definition.steps:
        lines.append(f"    s{step.id} [label={json.dumps(_label(step))}];")
    for source, target, label, kind in _edges(definition):
        attrs = [] if kind == "next" else ["style=dashed"]
        text = label if kind != "branch" else "branch"
        if text:
            attrs.append(f"label={json.dumps(text)}")
        joined = ", ".join(attrs)
        lines.append(f"    s{source} -> s{target}{f' [{joined}]' if attrs else ''};")
    lines.append("}")
    return "\n".join(lines)


def draw(definition: WorkflowDefinition, fmt: str) -> str:
    return {"text": as_text, "mermaid": as_mermaid, "dot": as_dot}[fmt](definition)
