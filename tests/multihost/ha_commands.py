"""What the failover and mutual TLS tests of ``tests/multihost`` do from the ``client`` host:
``python -m tests.multihost.ha_commands COMMAND URIS ARGS...`` prints JSON lines. ``URIS`` are
the JobManagers' addresses separated by commas (the client follows the leader); the submit
token comes from ``SABOT_TOKEN``, the CA and this client's certificate from ``SABOT_TLS_CA``,
``SABOT_TLS_CERT`` and ``SABOT_TLS_KEY`` (none of them: no client certificate).

- ``agents URIS N`` and ``roles URIS``: as :mod:`cluster.netns.ha_commands` (what the
  deployment asks).
- ``slow URIS FACTS DIMS OUT``: the join and group-by of :mod:`.client_commands`, its facts
  read slowly; prints ``running JOB_ID`` once one of its tasks runs (for the test to kill or
  cut off the leader), then its result goes to the Parquet file OUT and it prints the job's
  state, its tasks, the jobs the cluster knows and the JobManager the client ended on.
- ``shuffle URIS FACTS DIMS OUT``: :func:`.client_commands.shuffle` on this cluster.
- ``connect URIS``: a ping through :func:`sabot_lab.connect`: ``{"ok": ...}`` or the error.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pyarrow.parquet as pq

import sabot_lab as sl
from cluster.netns.ha_commands import COMMANDS
from sabot_lab.errors import ClusterError
from tests.multihost.client_commands import joined_totals, shuffle

__all__ = ["main", "slow_job"]


def slow_job(cluster: sl.Cluster, facts: str, dims: str, out: str) -> dict[str, Any]:
    """Run the slow job (see the module's text); what happened."""
    job = joined_totals(facts, dims, slow=True).submit(cluster, name="failover", partitions=4)
    deadline = time.monotonic() + 120
    while not any(t["state"] == "RUNNING" for t in job.tasks()):
        if time.monotonic() > deadline or job.status() in ("FINISHED", "FAILED"):
            raise SystemExit(f"no task of {job.job_id} ran: {job.tasks()}")
        time.sleep(0.05)
    print(f"running {job.job_id}", flush=True)
    pq.write_table(job.result(timeout=300), out)
    return {"job_id": job.job_id, "state": job.status(), "tasks": job.tasks(),
            "jobs": cluster.jobs(), "leader": cluster.uri}  # fmt: skip


def main(argv: list[str]) -> None:
    """Run one command (see the module's text) and print its JSON."""
    command, uris, *args = argv
    if command in COMMANDS:
        reply: Any = COMMANDS[command](uris, args)
    elif command == "connect":
        try:
            reply = {"ok": sl.connect(uris).uri}
        except ClusterError as exc:
            reply = {"error": str(exc), "kind": type(exc).__name__}
    elif command == "shuffle":
        reply = shuffle(sl.connect(uris), *args)
    elif command == "slow":
        reply = slow_job(sl.connect(uris), *args)
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(reply, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
