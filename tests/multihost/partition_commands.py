"""The client side of the healed-partition test (``tests/multihost/test_healed_partition.py``),
run in the ``client`` host: ``python -m tests.multihost.partition_commands URI FACTS SINK``
with ``SABOT_TOKEN`` (to submit) and ``SABOT_CLUSTER_TOKEN`` (to ask an agent for its
tasks, as the JobManager does) set.

It submits a job that takes checkpoints (every 0.3 s) and commits its rows to a Parquet sink
at SINK: the facts, read slowly by two tasks, with a column computed. Then it prints, one line at a
step, for the test to act on:

- ``victim URI``: a task of the first attempt (reading the facts) runs on the agent at URI
  and a checkpoint is complete (the test cuts that agent off);
- ``failed TIME``: the agent is FAILED (first seen at ``time.time()`` TIME) and the job's
  attempt given up with it, its tasks there recorded FAILED (the test heals the link);
- a JSON object at the end: when the agent was ACTIVE again (``rejoined``), the agent's own
  list of the first attempt's tasks once none of them runs any more, or after 60 s
  (``stale``: task id -> state), the job's state then (``job_then``), the job's final
  state and attempts, and the states the JobManager recorded for the tasks it placed on
  the agent (``recorded``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.client import Cluster, Job
from sabot_lab.runtime.transport import Credentials, call
from tests.multihost.client_commands import slowly

__all__ = ["agent_tasks", "healed_partition", "main", "slow_rows", "wait_until"]

TIMEOUT = 120.0
"""Seconds each step may take at most."""


def wait_until(what: str, ready: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    """``ready()``'s first true value, polled; :class:`SystemExit` naming ``what`` if none
    came within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (found := ready()):
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)
    return found


def slow_rows(facts: str) -> sl.Stream:
    """The facts, read with a pause per batch, ``y = 2 * x`` added."""
    read = sl.from_parquet(facts)
    read = read.map_batches(slowly, schema=read.schema, preserves=read.schema.names)
    return read.with_columns(y=col("x") * 2)


def agent_tasks(uri: str, attempt: int) -> dict[str, str]:
    """The state of each task of ``attempt`` the agent at ``uri`` knows (its ``status``)."""
    auth = Credentials(os.environ["SABOT_CLUSTER_TOKEN"], insecure=True)
    tasks = call(uri, "status", None, auth, timeout=10)["tasks"]
    return {t["task_id"]: t["state"] for t in tasks if t["task_id"].endswith(f"/{attempt}")}


def _agent_state(cluster: Cluster, uri: str) -> str:
    return next(a["state"] for a in cluster.agents() if a["uri"] == uri)


def healed_partition(cluster: Cluster, facts: str, sink: str) -> dict[str, Any]:
    """Run the job through a partition and its healing (see the module's text)."""
    job: Job = slow_rows(facts).submit(
        cluster, name="healed", partitions=2, checkpoint_interval=0.3, sink=sl.ParquetSink(sink)
    )

    def victim() -> str | None:
        readers = [t for t in job.tasks() if t["state"] == "RUNNING"]
        complete = any(c["state"] == "COMPLETE" for c in job.checkpoints())
        return readers[0]["agent"] if readers and complete else None

    uri = wait_until("a task reads the facts and a checkpoint is complete", victim)
    print(f"victim {uri}", flush=True)
    wait_until(f"{uri} FAILED", lambda: _agent_state(cluster, uri) == "FAILED")
    failed_at = time.time()
    wait_until(
        f"the attempt given up with {uri}",
        lambda: any(t["agent"] == uri and t["state"] == "FAILED" for t in job.tasks()),
    )
    print(f"failed {failed_at}", flush=True)
    wait_until(f"{uri} ACTIVE again", lambda: _agent_state(cluster, uri) in ("ACTIVE", "BUSY"))
    rejoined_at = time.time()
    deadline = time.monotonic() + 60
    while "RUNNING" in (stale := agent_tasks(uri, 0)).values() and time.monotonic() < deadline:
        time.sleep(0.05)
    job_then = job.status()
    job.result(timeout=TIMEOUT)
    return {
        "victim": uri,
        "failed_at": failed_at,
        "rejoined_at": rejoined_at,
        "stale": stale,
        "job_then": job_then,
        "state": job.status(),
        "attempts": sorted({t["attempt"] for t in job.tasks()}),
        "recorded": {t["task_id"]: t["state"] for t in job.tasks() if t["agent"] == uri},
        "agent_state": _agent_state(cluster, uri),
    }


def main(argv: list[str]) -> None:
    """Run the scenario (see the module's text) and print its JSON."""
    uri, facts, sink = argv
    reply = healed_partition(sl.connect(uri, insecure=True), facts, sink)
    print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
