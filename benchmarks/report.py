"""Results: rows of metrics with their targets, printed as a table and written as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

WORKLOADS = ("W", "L", "E", "F", "H", "RSS")

OK, TIMEOUT, ERROR, SKIPPED = "ok", "timeout", "error", "skipped"


@dataclass
class Target:
    op: str  # ">=" or "<="
    value: float
    label: str = ""  # how to read it, e.g. "within 20% of N=1000"

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value >= self.value if self.op == ">=" else value <= self.value

    def text(self, unit: str) -> str:
        figure = f"{self.op} {fmt(self.value)}{' ' + unit if unit else ''}"
        return f"{figure} ({self.label})" if self.label else figure


@dataclass
class Metric:
    name: str
    value: float | None
    unit: str = ""
    target: Target | None = None

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["met"] = self.met
        return doc


@dataclass
class Row:
    workload: str  # W, L, E, F, H, RSS
    config: str  # memory, redis, redis-2p
    case: str  # e.g. "N=1000", "spaced", "parallel"
    status: str = OK
    metrics: list[Metric] = field(default_factory=list)
    note: str = ""
    seconds: float = 0.0  # wall time the case took, setup included

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def add(self, name: str, value: float | None, unit: str = "", target: Target | None = None) -> Metric:
        metric = Metric(name, value, unit, target)
        self.metrics.append(metric)
        return metric

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "config": self.config,
            "case": self.case,
            "status": self.status,
            "note": self.note,
            "seconds": round(self.seconds, 3),
            "metrics": {m.name: m.to_dict() for m in self.metrics},
        }


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def find(rows: list[Row], workload: str, config: str, case: str) -> Row | None:
    return next((r for r in rows if (r.workload, r.config, r.case) == (workload, config, case)), None)


def apply_relative_targets(rows: list[Row], w_reference: int, w_large: int) -> None:
    """Targets that compare rows: memory W at the large N within 20% of W at the reference N, two Redis
    host processes at least 1.3x one host, and SQLite at least half of one Redis host (same N)."""
    memory_ref = find(rows, "W", "memory", f"N={w_reference}")
    memory_large = find(rows, "W", "memory", f"N={w_large}")
    if memory_ref and memory_large and w_large != w_reference:
        ref = memory_ref.metric("steps/s")
        large = memory_large.metric("steps/s")
        if ref is not None and ref.value and large is not None and large.target is None:
            large.target = Target(">=", 0.8 * ref.value, f"within 20% of N={w_reference}")
    relative = {"redis-2p": (1.3, "1.3x one host", "x one host"), "sqlite": (0.5, "0.5x Redis", "x Redis")}
    for row in rows:
        if row.workload != "W" or row.config not in relative:
            continue
        factor, why, label = relative[row.config]
        one = find(rows, "W", "redis", row.case)
        ours = row.metric("steps/s")
        theirs = one.metric("steps/s") if one else None
        if ours is None or theirs is None or not theirs.value:
            continue
        ours.target = Target(">=", factor * theirs.value, why)
        row.add(label, None if ours.value is None else ours.value / theirs.value, "x")


def summary(rows: list[Row]) -> dict[str, Any]:
    with_target = [(r, m) for r in rows for m in r.metrics if m.target is not None]
    missed = [
        {
            "workload": r.workload,
            "config": r.config,
            "case": r.case,
            "metric": m.name,
            "value": m.value,
            "target": f"{m.target.op} {m.target.value:g}" if m.target else None,
            "status": r.status,
        }
        for r, m in with_target
        if m.met is not True
    ]
    return {"targets": len(with_target), "met": len(with_target) - len(missed), "missed": missed}


def table(rows: list[Row]) -> str:
    header = ("Workload", "Providers", "Case", "Metric", "Value", "Target", "Met", "Status")
    lines: list[tuple[str, ...]] = []
    for row in rows:
        status = row.status if not row.note else f"{row.status}: {row.note}"
        if not row.metrics:
            lines.append((row.workload, row.config, row.case, "-", "-", "-", "", status))
        for i, metric in enumerate(row.metrics):
            value = fmt(metric.value) + (f" {metric.unit}" if metric.unit and metric.value is not None else "")
            target = metric.target.text(metric.unit) if metric.target else ""
            met = {True: "yes", False: "NO", None: ""}[metric.met] if metric.target else ""
            if metric.target and metric.value is None:
                met = "n/a"
            first = i == 0
            lines.append(
                (
                    row.workload if first else "",
                    row.config if first else "",
                    row.case if first else "",
                    metric.name,
                    value,
                    target,
                    met,
                    status if first else "",
                )
            )
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    widths[-1] = len(header[-1])  # the status column is last: let it run on

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.ljust(w) if i < len(cells) - 1 else c for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [render(header), render(tuple("-" * w for w in widths))]
    out += [render(line) for line in lines]
    return "\n".join(line.rstrip() for line in out)


def write_json(path: str, rows: list[Row], meta: dict[str, Any]) -> None:
    doc = {
        "meta": meta,
        "workloads": {w: [r.to_dict() for r in rows if r.workload == w] for w in WORKLOADS},
        "summary": summary(rows),
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w") as out:
        json.dump(doc, out, indent=2, default=str)
        out.write("\n")
    os.replace(tmp, path)
