"""Peak RSS of a fresh process running chain instances to completion on the memory providers.

``python -m benchmarks.rss --instances 10000`` prints one JSON line: ``baseline_kb`` (RSS once the
host runs and a few instances completed), ``peak_kb`` (peak RSS once all completed, every completed
instance still stored), ``current_kb``, ``completed``, ``finished``. On Linux the peak is VmHWM, reset
to the current RSS once the baseline is taken (so the peak is that of the measured part alone).
"""

from __future__ import annotations

import argparse
import gc
import json

from benchmarks.measure import Completions, current_rss_kb, peak_rss_kb, reset_peak_rss
from benchmarks.workflows import CHAIN, register_all
from liteflow.core import configure_workflow_host

WARMUP = 20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)

    host = configure_workflow_host()
    register_all(host)
    completions = Completions()
    completions.listen(host)
    host.start()
    try:
        for i in range(WARMUP):
            host.start_workflow(CHAIN, 1, None, reference=f"warm{i}")
        completions.wait_count(WARMUP, 30)
        gc.collect()
        reset = reset_peak_rss()
        baseline = current_rss_kb() if reset else None
        if baseline is None:
            baseline = peak_rss_kb()
        for i in range(args.instances):
            host.start_workflow(CHAIN, 1, None, reference=f"r{i}")
        finished = completions.wait_count(WARMUP + args.instances, args.timeout)
        peak = peak_rss_kb()
        figures = {
            "instances": args.instances,
            "completed": completions.count() - WARMUP,
            "finished": finished,
            "baseline_kb": baseline,
            "peak_kb": peak,
            "current_kb": current_rss_kb(),
            "peak_reset": reset,
        }
    finally:
        host.stop()
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
