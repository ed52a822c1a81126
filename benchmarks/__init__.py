"""LiteFlow benchmarks: ``python -m benchmarks`` (``--quick`` for a smoke run).

Workloads (each on the memory providers and on Redis; on Redis also with two host processes):

* W: N instances of a 10-step no-op chain started at once: steps/s, mean/p99 start-to-complete latency.
* L: one 10-step instance on an idle host: start-to-complete latency (median of many).
* E: instances waiting for events, events published 50 ms apart and in one burst: publish-to-complete.
* F: a for_each over many items, parallel and sequential.
* H: a while_ loop of many iterations in one instance: time per iteration, first 100 against last 100.
* RSS: peak RSS per 10,000 completed instances in memory (measured in a fresh process).

Completion is observed through lifecycle events (``WorkflowCompleted`` callbacks stamped with
``time.perf_counter``), never by polling. Everything is bounded in count and time: a workload that runs
out of time is reported as a timeout with what it measured so far.
"""
