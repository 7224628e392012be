"""What the tests of ``tests/multihost`` do from the ``client`` host (the test process
itself is on no host of the virtual cluster): ``python -m tests.multihost.client_commands
COMMAND ARGS...`` prints one JSON object. The JobManager's URI is the first argument; the
submit token comes from ``SABOT_TOKEN``.

- ``agents URI N``: wait (up to 60 s) until N agents are ACTIVE; the agents.
- ``shuffle URI FACTS DIMS OUT``: join the Parquet files FACTS and DIMS on ``k``, sum ``x``
  per ``name`` across 6 partitions; the result goes to the Parquet file OUT; the job's state
  and the agents its tasks ran on.
- ``partition URI FACTS DIMS OUT VICTIM``: the same job, its facts read slowly (a pause per
  batch); prints ``running JOB_ID`` once a task runs on the agent whose URI starts with
  VICTIM (for the test to cut it off), then follows the agents until the job ends: the job's
  state, its attempts, and when (``time.time()``) VICTIM was first seen FAILED.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import sabot_lab as sl
from cluster.netns.ha_commands import wait_for_agents
from sabot_lab import col
from sabot_lab.client import Cluster

__all__ = ["joined_totals", "main", "partition", "shuffle", "slowly"]


def slowly(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch``, after a pause: a job that lasts long enough to cut an agent off mid-way."""
    time.sleep(0.2)
    return batch


def joined_totals(facts: str, dims: str, slow: bool = False) -> sl.Stream:
    """The facts joined with the dims on ``k``; ``x`` summed and rows counted per ``name``."""
    read = sl.from_parquet(facts)
    if slow:
        read = read.map_batches(slowly, schema=read.schema, preserves=read.schema.names)
    joined = read.join(sl.from_parquet(dims), on="k")
    # a parallelism of its own: the partial sums are hashed across the agents (97 groups
    # would otherwise be merged in one task, and no shuffle would cross between agents)
    return joined.group_by("name").agg(total=col("x").sum(), n=sl.count()).with_parallelism(6)


def shuffle(cluster: Cluster, facts: str, dims: str, out: str) -> dict[str, Any]:
    """Run the join and group-by on the cluster; what happened."""
    job = joined_totals(facts, dims).submit(cluster, name="multihost-shuffle", partitions=6)
    pq.write_table(job.result(timeout=240), out)
    return {"state": job.status(), "agents": sorted({t["agent"] for t in job.tasks()})}


def partition(cluster: Cluster, facts: str, dims: str, out: str, victim: str) -> dict[str, Any]:
    """Run the slow job; say when a task runs on ``victim``; follow the agents until the
    job ends."""
    job = joined_totals(facts, dims, slow=True).submit(cluster, name="cut-off", partitions=6)
    deadline = time.monotonic() + 120
    while not any(t["agent"].startswith(victim) and t["state"] == "RUNNING" for t in job.tasks()):
        if time.monotonic() > deadline or job.status() in ("FINISHED", "FAILED"):
            raise SystemExit(f"no task ran on {victim}: {job.tasks()}")
        time.sleep(0.05)
    print(f"running {job.job_id}", flush=True)
    failed_at = None
    while job.status() not in ("FINISHED", "FAILED", "CANCELLED") or failed_at is None:
        states = {a["uri"]: a["state"] for a in cluster.agents()}
        if failed_at is None and any(
            u.startswith(victim) and s == "FAILED" for u, s in states.items()
        ):
            failed_at = time.time()
        if time.monotonic() > deadline + 240:
            break
        time.sleep(0.05)
    pq.write_table(job.result(timeout=240), out)
    return {
        "state": job.status(),
        "failed_at": failed_at,
        "attempts": sorted({t["attempt"] for t in job.tasks()}),
    }


def main(argv: list[str]) -> None:
    """Run one command (see the module's text) and print its JSON."""
    command, uri, *args = argv
    cluster = sl.connect(uri, insecure=True)
    if command == "agents":
        reply: Any = wait_for_agents(cluster, int(args[0]))
    elif command == "shuffle":
        reply = shuffle(cluster, *args)
    elif command == "partition":
        reply = partition(cluster, *args)
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(reply, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
