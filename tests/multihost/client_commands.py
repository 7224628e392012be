"""What the tests of ``tests/multihost`` do from the ``client`` host (the test process
itself is on no host of the virtual cluster): ``python -m tests.multihost.client_commands
COMMAND ARGS...`` prints one JSON object. The JobManager's URI is the first argument; the
submit token comes from ``SABOT_TOKEN``.

- ``agents URI N``: wait (up to 60 s) until N agents are ACTIVE; the agents.
- ``shuffle URI FACTS DIMS OUT``: join the Parquet files FACTS and DIMS on ``k``, sum ``x``
  per ``name`` across 6 partitions; the result goes to the Parquet file OUT; the job's state
  and the agents its tasks ran on.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pyarrow.parquet as pq

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.client import Cluster

__all__ = ["main", "shuffle", "wait_for_agents"]


def wait_for_agents(cluster: Cluster, n: int, timeout: float = 60.0) -> list[dict[str, Any]]:
    """The agents once ``n`` of them are ACTIVE (or all of them after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        agents = cluster.agents()
        active = [a for a in agents if a["state"] in ("ACTIVE", "BUSY")]
        if len(active) >= n or time.monotonic() > deadline:
            return agents
        time.sleep(0.1)


def shuffle(cluster: Cluster, facts: str, dims: str, out: str) -> dict[str, Any]:
    """Run the join and group-by on the cluster; what happened."""
    joined = sl.from_parquet(facts).join(sl.from_parquet(dims), on="k")
    stream = joined.group_by("name").agg(total=col("x").sum(), n=sl.count())
    job = stream.submit(cluster, name="multihost-shuffle", partitions=6)
    pq.write_table(job.result(timeout=240), out)
    return {"state": job.status(), "agents": sorted({t["agent"] for t in job.tasks()})}


def main(argv: list[str]) -> None:
    """Run one command (see the module's text) and print its JSON."""
    command, uri, *args = argv
    cluster = sl.connect(uri, insecure=True)
    if command == "agents":
        reply: Any = wait_for_agents(cluster, int(args[0]))
    elif command == "shuffle":
        reply = shuffle(cluster, *args)
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(reply, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
