"""LiteFlow beside Celery and DBOS: the same four workloads on each, run alternately on one machine.

Not part of the suite CI runs (the peers are not LiteFlow's dependencies). Set up once, then run::

    python -m venv .peers
    .peers/bin/pip install -e ".[redis]" "celery[redis]" dbos
    .peers/bin/python -m benchmarks.peers --rounds 3

It needs Redis on 127.0.0.1:6379 (LiteFlow and Celery use databases 11 and 12 there, flushed before
each run) and PostgreSQL on 127.0.0.1:5432 with trust authentication for DBOS (database
``liteflow_peers``, dropped and created before each run). Each round runs every system once, each in a
fresh process; the table gives the median over rounds.

The workloads (each system with its default options, a trivial step body):

* ``W``: 200 instances of a 10-step chain started at once, steps per second until the last finishes;
* ``W1``: one 10-step instance, warm (after 3 unmeasured), the median of 10, from start to finished;
* ``E``: 50 instances waiting for an event, events published 50 ms apart, the p50 from publish to
  the step after the wait having run;
* ``Eb``: the same with the 50 events published at once (a burst).

Celery has no durable wait: its "event" is a task enqueued at publication, so its E measures only
queueing; it is there as the floor a broker gives.
"""
