"""The DAG of a template: parents, roots, cycles and a topological order (pure functions of task ids)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Graph = Mapping[str, Sequence[str]]


def parents_of(task_ids: Sequence[str], graph: Graph) -> dict[str, list[str]]:
    """Each task's parents, in the order their entries appear in the graph."""
    parents: dict[str, list[str]] = {task_id: [] for task_id in task_ids}
    for upstream, downstream in graph.items():
        for task_id in downstream:
            parents[task_id].append(upstream)
    return parents


def roots(task_ids: Sequence[str], parents: Mapping[str, Sequence[str]]) -> list[str]:
    return [task_id for task_id in task_ids if not parents[task_id]]


def find_cycle(task_ids: Sequence[str], graph: Graph) -> list[str] | None:
    """A cycle as a path ``[a, b, ..., a]``, or None when the graph is acyclic."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(task_ids, white)
    for start in task_ids:
        if colour[start] != white:
            continue
        path: list[str] = [start]
        stack = [iter(graph.get(start, ()))]
        colour[start] = grey
        while stack:
            child = next(stack[-1], None)
            if child is None:
                colour[path.pop()] = black
                stack.pop()
            elif colour[child] == grey:
                return [*path[path.index(child) :], child]
            elif colour[child] == white:
                colour[child] = grey
                path.append(child)
                stack.append(iter(graph.get(child, ())))
    return None


def topological_order(task_ids: Sequence[str], graph: Graph) -> list[str]:
    """Every task after all its parents; ties keep the template's task order (the root comes first)."""
    position = {task_id: i for i, task_id in enumerate(task_ids)}
    pending = {task_id: len(p) for task_id, p in parents_of(task_ids, graph).items()}
    ready = sorted((t for t, n in pending.items() if n == 0), key=position.__getitem__)
    order: list[str] = []
    while ready:
        task_id = ready.pop(0)
        order.append(task_id)
        for child in graph.get(task_id, ()):
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
                ready.sort(key=position.__getitem__)
    return order
