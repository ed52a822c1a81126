"""``python -m benchmarks.peers``: run the sides alternately, print the medians side by side."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

#: ``liteflow``: one host in the benchmark's own process; ``liteflow_workers``: ``liteflow worker --processes
#: N`` beside it (N = the CPU count), deployed as Celery's worker is, the benchmark process a client.
SIDES = ("liteflow", "liteflow_workers", "celery", "dbos")
OURS = ("liteflow", "liteflow_workers")
#: Workload, its unit, and whether more is better.
WORKLOADS = (
    ("W", "steps/s, 200 x 10-step chains", True),
    ("W1", "ms, one 10-step instance, warm", False),
    ("E", "ms p50, 50 events 50 ms apart", False),
    ("Eb", "ms p50, 50 events at once", False),
)


def run_side(side: str, timeout: float) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.peers.{side}_side"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=Path(__file__).resolve().parents[2],
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{side} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(lines[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.peers", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sides", default=",".join(SIDES))
    parser.add_argument("--json", help="write every round's figures here")
    args = parser.parse_args()
    sides = [side.strip() for side in args.sides.split(",") if side.strip()]
    rounds: list[dict[str, dict[str, float]]] = []
    for index in range(args.rounds):
        order = sides[index % len(sides) :] + sides[: index % len(sides)]  # each side goes first in turn
        figures = {}
        for side in order:
            figures[side] = run_side(side, timeout=600)
            sys.stderr.write(f"round {index + 1} {side}: {figures[side]}\n")
        rounds.append(figures)
    medians = {side: {w: statistics.median(r[side][w] for r in rounds) for w, _, _ in WORKLOADS} for side in sides}
    ours = [side for side in sides if side in OURS]
    peers = [side for side in sides if side not in OURS]
    compared = ours if peers else []
    header = "| workload | " + " | ".join(sides) + "".join(f" | {side} vs best peer" for side in compared) + " |"
    print(header)
    print("|" + "---|" * (len(sides) + len(compared) + 1))
    for workload, unit, more_is_better in WORKLOADS:
        cells = [f"{medians[side][workload]:,.1f}" for side in sides]
        ratios = []
        for side in compared:
            mine = medians[side][workload]
            best = (
                max(medians[p][workload] for p in peers) if more_is_better else min(medians[p][workload] for p in peers)
            )
            ratio = (mine / best if more_is_better else best / mine) if mine and best else float("nan")
            ratios.append(f"{ratio:.2f}x")
        print(f"| {workload}: {unit} | " + " | ".join(cells + ratios) + " |")
    print(f"(median of {args.rounds} rounds; {os.cpu_count()} CPUs; a ratio above 1 means LiteFlow is ahead)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rounds": rounds, "medians": medians}, indent=2))


if __name__ == "__main__":
    main()
