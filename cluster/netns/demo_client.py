"""The client side of the cluster demo (:mod:`cluster.netns.demo`), run in the ``client``
host: ``python -m cluster.netns.demo_client COMMAND URIS ARGS...``. ``URIS`` are the
JobManagers' addresses separated by commas (the client follows the leader); the submit token
and the TLS settings come from the environment (``SABOT_TOKEN``, ``SABOT_TLS_*``).

- ``fintech URIS QUOTES SECURITIES OUT``: the fintech pipeline
  (:func:`sabot_lab.examples.demo.fintech_pipeline`) over the Parquet files QUOTES and
  SECURITIES, on the cluster; its result goes to the Parquet file OUT; prints the job's
  state and the agents its tasks ran on as JSON.
- ``q5 URIS EVENTS SECONDS SINK``: Nexmark q5 over the bids of an EVENTS-event generator
  run (:func:`nexmark_bids`), paced to last about SECONDS, with a checkpoint every 0.5 s and
  a Parquet sink at SINK. It prints a line at each step, ``time.time()`` last, for the demo
  to act on and to draw its timeline from:

  - ``checkpointed JOB_ID TIME``: a checkpoint of the job is complete (the demo kills the
    leader);
  - ``leader URI TIME``: another JobManager leads;
  - ``victim URI TIME``: a task of the job runs on the agent at URI (the demo cuts it off);
  - ``failed URI TIME``: that agent is FAILED (the demo heals its link);
  - ``rejoined URI TIME``: it is ACTIVE again;
  - ``finished JOB_ID TIME``: the job ended; then a JSON object: its state, attempts and
    checkpoints, and every job the cluster knows.

May import the standard library, pyarrow and sabot-lab's user API and client side only.

>>> chunks = [nexmark_bids(1_000, 10_000.0, 7, i) for i in range(CHUNKS + 1)]
>>> sum(c.num_rows for c in chunks[:CHUNKS]), chunks[CHUNKS]
(920, None)
>>> pa.concat_tables(chunks[:CHUNKS]).equals(sl.nexmark(1_000, 10_000.0, 7).bids.collect())
True
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import pyarrow as pa
import pyarrow.parquet as pq

import sabot_lab as sl
from cluster.netns.ha_commands import roles
from sabot_lab.client import Cluster, Job
from sabot_lab.connectors.nexmark import NexmarkSource
from sabot_lab.errors import ClusterError
from sabot_lab.examples.demo import fintech_pipeline
from sabot_lab.examples.nexmark import Nexmark
from sabot_lab.examples.nexmark_queries import q5

__all__ = [
    "CHUNKS", "fintech", "hot_items", "main", "nexmark_bids", "q5_through_faults", "say",
    "wait_until",
]  # fmt: skip

CHUNKS = 100
"""The generator run is read in this many chunks of events."""
STEP_TIMEOUT = 120.0
"""Seconds each step of ``q5`` may take at most."""


def nexmark_bids(events: int, event_rate: float, seed: int, i: int) -> pa.Table | None:
    """The bids among the ``i``-th of :data:`CHUNKS` chunks of the events of the Nexmark run
    (``events``, ``event_rate``, ``seed``); None after the last chunk."""
    size = -(-events // CHUNKS)
    if i * size >= events:
        return None
    source = NexmarkSource("bids", events, event_rate, seed)
    return pa.Table.from_batches([source.batch(i * size, min((i + 1) * size, events))])


def hot_items(events: int, event_rate: float, seed: int, seconds: float) -> sl.Stream:
    """Nexmark q5 over the bids of the run, generated at a pace that takes about
    ``seconds`` of wall-clock time (a live feed: restored from a checkpoint, it goes on
    where it was)."""
    chunk = functools.partial(nexmark_bids, events, event_rate, seed)
    bids = sl.from_generator(chunk, max_rows_per_second=events / seconds)
    return q5(cast(Nexmark, SimpleNamespace(bids=bids)))  # (q5 reads only the bids)


def fintech(cluster: Cluster, quotes: str, securities: str, out: str) -> dict[str, Any]:
    """Run the fintech pipeline on the cluster, its result into ``out``; what happened."""
    pipeline = fintech_pipeline(sl.from_parquet(quotes), sl.from_parquet(securities))
    job = pipeline.submit(cluster, name="fintech", partitions=3)
    pq.write_table(job.result(timeout=STEP_TIMEOUT * 2), out)
    agents = sorted({t["agent"] for t in job.tasks()})
    return {"job_id": job.job_id, "state": job.status(), "agents": agents}


def wait_until(what: str, ready: Callable[[], Any], timeout: float = STEP_TIMEOUT) -> Any:
    """``ready()``'s first true value, polled (a :class:`ClusterError` counts as not yet);
    :class:`SystemExit` naming ``what`` if none came within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = ready()
        except ClusterError:  # (no leader for a moment: the client asks again)
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


def say(*words: object) -> None:
    """Print a step's line, the time last."""
    print(*words, time.time(), flush=True)


def q5_through_faults(
    cluster: Cluster, uris: list[str], events: int, seconds: float, sink: str
) -> dict[str, Any]:
    """Run q5 through a leader's death and an agent's partition (see the module's text)."""
    job: Job = hot_items(events, 10_000.0, 5, seconds).submit(
        cluster, name="nexmark-q5", partitions=1, checkpoint_interval=0.5,
        sink=sl.ParquetSink(sink),
    )  # fmt: skip

    def ended() -> None:
        if job.status() in ("FINISHED", "FAILED", "CANCELLED"):
            raise SystemExit(f"{job.job_id} ended ({job.status()}) before the faults: slow it")

    def checkpointed() -> bool:
        ended()
        return any(c["state"] == "COMPLETE" for c in job.checkpoints())

    wait_until("a complete checkpoint", checkpointed)
    leader = cluster.uri
    say("checkpointed", job.job_id)

    def new_leader() -> str | None:
        said = roles([u for u in uris if u != leader])
        return next((u for u, r in said.items() if r.get("role") == "leader"), None)

    say("leader", wait_until("another JobManager leads", new_leader))

    def victim() -> str | None:
        ended()
        running = [t["agent"] for t in job.tasks() if t["state"] == "RUNNING"]
        return running[0] if running else None

    uri = wait_until("a task of the job runs again", victim)
    say("victim", uri)

    def state(uri: str) -> str:
        return next(a["state"] for a in cluster.agents() if a["uri"] == uri)

    wait_until(f"{uri} FAILED", lambda: state(uri) == "FAILED")
    say("failed", uri)
    wait_until(f"{uri} ACTIVE again", lambda: state(uri) in ("ACTIVE", "BUSY"))
    say("rejoined", uri)
    job.result(timeout=STEP_TIMEOUT * 2)
    say("finished", job.job_id)
    return {
        "job_id": job.job_id,
        "state": job.status(),
        "attempts": sorted({t["attempt"] for t in job.tasks()}),
        "checkpoints": sum(c["state"] == "COMPLETE" for c in job.checkpoints()),
        "jobs": [(j["job_id"], j["state"]) for j in cluster.jobs()],
    }


def main(argv: list[str]) -> None:
    """Run one command (see the module's text) and print its JSON."""
    command, uris, *args = argv
    cluster = sl.connect(uris)
    if command == "fintech":
        reply = fintech(cluster, *args)
    elif command == "q5":
        events, seconds, sink = args
        reply = q5_through_faults(cluster, uris.split(","), int(events), float(seconds), sink)
    else:
        raise SystemExit(f"unknown command {command!r}: fintech or q5")
    print(json.dumps(reply, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
