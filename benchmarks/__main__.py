"""``python -m benchmarks``: run the workloads, print a table (target beside every figure) and write JSON.

    python -m benchmarks                      # the full run (a few minutes)
    python -m benchmarks --quick              # a smoke run (well under a minute)
    python -m benchmarks --only W,L --providers memory --json /tmp/bench.json

Redis cases need a server at ``--redis-url`` (default ``$LITEFLOW_TEST_REDIS_URL`` or
redis://127.0.0.1:6379/0); if none answers they are skipped with a line saying so, unless
``LITEFLOW_REQUIRE_SERVICES=1`` (then the run fails). Exit status: 0 when every case ran (missed
targets and timeouts are reported, not failed), 1 when a case raised, 2 when Redis is required but away.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from benchmarks import report, workloads
from benchmarks.harness import MEMORY, REDIS, REDIS_2P, SQLITE, Rig, Run, redis_answers
from benchmarks.report import ERROR, SKIPPED, WORKLOADS, Row
from benchmarks.workloads import FULL, QUICK, Plan

DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "latest.json")
DEFAULT_REDIS = os.environ.get("LITEFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _csv(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [v for v in values if v not in choices]
        if unknown or not values:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)} (comma-separated)")
        return values

    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="LiteFlow benchmarks")
    parser.add_argument("--quick", action="store_true", help="a smoke run: small sizes, well under a minute")
    parser.add_argument("--only", type=_csv(WORKLOADS), default=list(WORKLOADS), help="workloads: W,L,E,F,H,RSS")
    parser.add_argument(
        "--providers",
        type=_csv((MEMORY, REDIS, SQLITE)),
        default=[MEMORY, REDIS, SQLITE],
        help="memory,redis,sqlite (default all three)",
    )
    parser.add_argument(
        "--hosts", type=_csv(("1", "2")), default=["1", "2"], help="Redis host processes: 1,2 (default both)"
    )
    parser.add_argument("--json", default=DEFAULT_JSON, help=f"where to write the results (default {DEFAULT_JSON})")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS)
    return parser.parse_args(argv)


def progress(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _run_w(rig: Rig, n: int, plan: Plan) -> Row:
    return workloads.run_w(rig, n, plan)


def _run_w_prequeued(rig: Rig, n: int, plan: Plan) -> Row:
    return workloads.run_w_prequeued(rig, n, plan)


def _bind(run: Callable[[Rig, Plan], Row | list[Row]], plan: Plan) -> Callable[[Rig], Row | list[Row]]:
    def body(rig: Rig) -> Row | list[Row]:
        return run(rig, plan)

    return body


class Runner:
    def __init__(self, plan: Plan, run: Run | None) -> None:
        self.plan = plan
        self.run = run
        self.rows: list[Row] = []
        self.errors = 0

    def case(
        self, workload: str, config: str, label: str, body: Callable[[Rig], Row | list[Row]], started: bool = True
    ) -> None:
        """Run one case on a fresh rig; an exception becomes an ``error`` row (and a failed run)."""
        progress(f"  {workload} {config} {label} ...")
        gc.collect()  # what earlier cases left (e.g. 10,000 instances) is not collected on this case's time
        began = time.monotonic()
        try:
            with Rig(self.run, config, started) as rig:
                result = body(rig)
        except Exception as exc:
            self.errors += 1
            traceback.print_exc(file=sys.stderr)
            result = Row(workload, config, label, ERROR, note=f"{type(exc).__name__}: {exc}")
        rows = result if isinstance(result, list) else [result]
        seconds = time.monotonic() - began
        for row in rows:
            row.seconds = seconds / len(rows)
            progress(f"    {row.workload} {row.config} {row.case}: {row.status} ({seconds:.1f}s)")
        self.rows.extend(rows)

    def workload(self, name: str, configs: list[str]) -> None:
        plan = self.plan
        single: dict[str, tuple[str, Callable[[Rig, Plan], Row | list[Row]]]] = {
            "L": ("runs", workloads.run_l),
            "E": ("events", workloads.run_e),
            "F": ("for_each", workloads.run_f),
            "H": ("while", workloads.run_h),
        }
        for config in configs:
            if config == REDIS_2P and name not in plan.two_host_workloads:
                continue
            if name == "W":
                for n in plan.w_sizes.get(config, ()):
                    self.case("W", config, f"N={n}", functools.partial(_run_w, n=n, plan=plan))
                for n in plan.w_prequeued:
                    body = functools.partial(_run_w_prequeued, n=n, plan=plan)
                    self.case("W", config, f"N={n} pre-queued", body, started=False)
            elif name in single:
                label, run = single[name]
                self.case(name, config, label, _bind(run, plan))
        if name == "RSS":
            if MEMORY not in configs:
                return
            progress("  RSS memory (fresh process) ...")
            started = time.monotonic()
            try:
                row = workloads.run_rss(plan)
            except Exception as exc:
                self.errors += 1
                traceback.print_exc(file=sys.stderr)
                row = Row("RSS", MEMORY, f"N={plan.rss_instances}", ERROR, note=f"{type(exc).__name__}: {exc}")
            row.seconds = time.monotonic() - started
            progress(f"    RSS memory {row.case}: {row.status} ({row.seconds:.1f}s)")
            self.rows.append(row)


def _git_state() -> dict[str, Any]:
    """The commit measured and whether the working tree differs from it (read-only git calls)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    state: dict[str, Any] = {}
    for key, command in (
        ("commit", ["git", "rev-parse", "HEAD"]),
        ("changed_files", ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"]),
    ):
        try:
            out = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=10, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            return {}
        state[key] = out.strip() if key == "commit" else len(out.splitlines())
    return state


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    started_at = datetime.now(timezone.utc).isoformat()
    configs: list[str] = []
    if MEMORY in args.providers:
        configs.append(MEMORY)
    redis_note = None
    run: Run | None = None
    if REDIS in args.providers:
        why = redis_answers(args.redis_url)
        if why is None:
            run = Run(args.redis_url)
            configs += [c for c, hosts in ((REDIS, "1"), (REDIS_2P, "2")) if hosts in args.hosts]
        elif os.environ.get("LITEFLOW_REQUIRE_SERVICES") == "1":
            print(f"Redis is required (LITEFLOW_REQUIRE_SERVICES=1) but {why}", file=sys.stderr)
            return 2
        else:
            redis_note = why
            print(f"SKIP the Redis cases: {why}", flush=True)
    if SQLITE in args.providers:
        configs.append(SQLITE)

    print(
        f"LiteFlow benchmarks ({'quick' if args.quick else 'full'} run; {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; configurations: {', '.join(configs) or 'none'})",
        flush=True,
    )
    load = _load_average()
    if load is not None and load > 1.0:
        print(f"note: load average {load:.2f} before the run: other processes compete for the CPUs", flush=True)
    runner = Runner(plan, run)
    try:
        for name in WORKLOADS:
            if name in args.only:
                progress(f"{name}:")
                runner.workload(name, configs)
    finally:
        if run is not None:
            run.cleanup()
    report.apply_relative_targets(runner.rows, plan.w_reference, plan.w_large)
    if redis_note:
        for name in args.only:
            runner.rows.append(Row(name, REDIS, "-", SKIPPED, note=redis_note))

    duration = time.monotonic() - started
    meta: dict[str, Any] = {
        "quick": args.quick,
        "started": started_at,
        "seconds": round(duration, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "configurations": configs,
        "workloads": args.only,
        "redis_url": args.redis_url if REDIS in args.providers else None,
        "redis_skipped": redis_note,
        "plan": {k: v for k, v in vars(plan).items()},
        "errors": runner.errors,
        "git": _git_state(),
        "load_average_before": load,
        "load_average_after": _load_average(),
    }
    print()
    print(report.table(runner.rows))
    summary = report.summary(runner.rows)
    print()
    print(f"targets met: {summary['met']} of {summary['targets']}; {len(runner.rows)} cases in {duration:.1f}s")
    report.write_json(args.json, runner.rows, meta)
    print(f"results written to {args.json}")
    return 1 if runner.errors else 0


if __name__ == "__main__":
    sys.exit(main())
